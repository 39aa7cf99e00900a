"""``python -m tinct.cli ...`` (e.g. under torchrun: ``torchrun ... -m tinct.cli train --config ...``)."""

from tinct.cli import run

run()
