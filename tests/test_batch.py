"""Overlapped batches (tinct.batch.run_jobs): decoding ahead and writing behind in worker threads,
with results, failures and interruptions as in a one-thread run."""

from __future__ import annotations

import threading
import time

import pytest

from tinct.batch import Job, run_jobs
from tinct.io import ImageError


def _jobs(tmp_path, n: int) -> list[Job]:
    return [Job(tmp_path / f"{i}.png", tmp_path / f"{i}_color.png") for i in range(n)]


def test_results_in_input_order_with_per_file_failures(tmp_path):
    jobs = _jobs(tmp_path, 8)
    main = threading.get_ident()
    decoded_in: dict[int, int] = {}
    errors: list[str] = []

    def prefetch(job: Job) -> int:
        i = int(job.src.stem)
        decoded_in[i] = threading.get_ident()
        if i == 2:
            raise ImageError("cannot decode image (truncated or corrupt?): x")
        return i

    def process(job: Job, fmt: str) -> None:
        assert threading.get_ident() == main and fmt == "PNG"
        i = job.prefetched()

        def finish() -> None:
            time.sleep(0.01 * (8 - i))  # earlier images finish writing later
            if i == 5:
                raise OSError("disk full")
            job.dst.write_text(str(i))

        job.defer(finish)

    res = run_jobs(jobs, process, prefetch=prefetch, workers=3, on_error=lambda p, m, tb: errors.append(p.name))
    assert res.done == [j.dst for j in jobs if j.src.stem not in ("2", "5")]
    assert res.failed == [
        (jobs[2].src, "cannot decode image (truncated or corrupt?): x"),
        (jobs[5].src, "OSError: disk full"),
    ]
    assert errors == ["2.png", "5.png"]
    assert sorted(decoded_in) == list(range(8)) and main not in decoded_in.values()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(j.dst.name for j in jobs if j.src.stem not in "25")


def test_without_workers_everything_runs_inline(tmp_path):
    jobs = _jobs(tmp_path, 3)
    main = threading.get_ident()
    ran: list[tuple[str, int]] = []

    def process(job: Job, fmt: str) -> None:
        assert job.prefetched() is None
        job.defer(lambda: ran.append((job.src.stem, threading.get_ident())))

    res = run_jobs(jobs, process, prefetch=lambda job: pytest.fail("no prefetch without workers"))
    assert res.done == [j.dst for j in jobs] and ran == [("0", main), ("1", main), ("2", main)]


def test_decoding_and_writing_overlap_the_model(tmp_path):
    jobs = _jobs(tmp_path, 8)
    step = 0.04  # decode, model and write each take this long

    def process(job: Job, fmt: str) -> None:
        job.prefetched()
        time.sleep(step)  # the model, in the calling thread
        job.defer(lambda: time.sleep(step))

    t = time.perf_counter()
    run_jobs(jobs, process, prefetch=lambda job: time.sleep(step), workers=4)
    overlapped = time.perf_counter() - t
    assert overlapped < 0.6 * 3 * step * len(jobs)  # serial: 0.96 s; overlapped: about 0.4 s


def test_interrupt_finishes_handed_over_writes_and_starts_nothing_more(tmp_path):
    jobs = _jobs(tmp_path, 6)
    processed: list[int] = []

    def process(job: Job, fmt: str) -> None:
        i = int(job.src.stem)
        if i == 3:
            raise KeyboardInterrupt
        processed.append(i)

        def finish() -> None:
            time.sleep(0.05)  # still writing when the interrupt comes
            job.dst.write_text("ok")

        job.defer(finish)

    with pytest.raises(KeyboardInterrupt):
        run_jobs(jobs, process, prefetch=lambda job: None, workers=4)
    assert processed == [0, 1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["0_color.png", "1_color.png", "2_color.png"]


# lanes: whole jobs on several threads at once -------------------------------------------------------


def test_lanes_run_whole_jobs_at_once_and_record_in_input_order(tmp_path):
    jobs = _jobs(tmp_path, 8)
    main = threading.get_ident()
    ran_in: dict[int, int] = {}
    running, most = [0], [0]
    lock = threading.Lock()
    errors: list[str] = []

    def process(job: Job, fmt: str) -> None:
        i = int(job.src.stem)
        assert job.in_lane and job.prefetched() is None and fmt == "PNG"
        ran_in[i] = threading.get_ident()
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.01 * (8 - i))  # earlier jobs finish later
        with lock:
            running[0] -= 1
        if i == 5:
            raise OSError("disk full")
        job.defer(lambda: job.dst.write_text(str(i)))  # runs at once, in the lane

    res = run_jobs(
        jobs, process, prefetch=lambda job: pytest.fail("lanes decode themselves"), workers=3, lanes=2,
        in_lane=lambda job: True, on_error=lambda p, m, tb: errors.append(p.name),
    )  # fmt: skip
    assert res.done == [j.dst for j in jobs if j.src.stem != "5"]
    assert res.failed == [(jobs[5].src, "OSError: disk full")] and errors == ["5.png"]
    assert most[0] == 2 and main not in ran_in.values() and len(set(ran_in.values())) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(j.dst.name for j in jobs if j.src.stem != "5")


def test_jobs_outside_lanes_wait_for_them_and_run_in_the_calling_thread(tmp_path):
    jobs = _jobs(tmp_path, 5)
    jobs[2].video = True  # e.g. a video among stills: runs alone
    main = threading.get_ident()
    events: list[str] = []

    def process(job: Job, fmt: str) -> None:
        i = int(job.src.stem)
        if job.video:
            assert threading.get_ident() == main and not job.in_lane
            events.append("video")
            return
        time.sleep(0.03)
        events.append(f"still {i}")

    res = run_jobs(jobs, process, lanes=2, in_lane=lambda job: not job.video)
    assert res.done == [j.dst for j in jobs]
    assert set(events[:2]) == {"still 0", "still 1"} and events[2] == "video"


def test_one_lane_job_takes_the_usual_path(tmp_path):
    jobs = _jobs(tmp_path, 1)

    def process(job: Job, fmt: str) -> None:
        assert not job.in_lane and job.prefetched() == "decoded"

    res = run_jobs(jobs, process, prefetch=lambda job: "decoded", workers=2, lanes=2, in_lane=lambda job: True)
    assert res.done == [jobs[0].dst]


def test_interrupt_in_lanes_finishes_running_jobs_and_cancels_queued_ones(tmp_path):
    jobs = _jobs(tmp_path, 12)
    started: list[int] = []

    def process(job: Job, fmt: str) -> None:
        started.append(int(job.src.stem))
        time.sleep(0.1)
        job.dst.write_text("ok")

    def progress(it):
        for i, job in enumerate(it):
            if i == 3:
                raise KeyboardInterrupt
            yield job

    with pytest.raises(KeyboardInterrupt) as info:
        run_jobs(jobs, process, progress=progress, lanes=2, in_lane=lambda job: True)
    done = info.value.batch_result.done
    assert sorted(started) == [0, 1, 2] or sorted(started) == [0, 1]  # the third may be cancelled before it starts
    assert done == [jobs[i].dst for i in sorted(started)]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{i}_color.png" for i in sorted(started)]
