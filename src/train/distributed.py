"""Which process of a data-parallel run this is (`accelerate launch`, `torchrun`)."""

import os


def is_main_process() -> bool:
    """Rank 0 of a data-parallel run or the only process: the one that saves and registers."""
    return int(os.environ.get("RANK", "0")) == 0
