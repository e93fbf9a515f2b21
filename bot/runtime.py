"""Process-wide tuning of a running bot (`smmbot run`), applied once it has started.

Not part of the factories: tests, the demo and the benchmarks build many bots in one process,
and what is tuned here belongs to the process, not to a bot.

The garbage collector. A started bot holds ~275,000 long-lived objects (modules, pydantic and
SQLAlchemy models, the dispatcher, connection pools), and CPython's full collection walks every
one of them: ~170 ms a time, ten times during the conversation benchmark's load, a quarter of the
bot's CPU; the young collections, every 700 allocations, took another 7%. Measured with
`gc.callbacks` in the bot process (bench/RESULTS.md). So once start-up is done:

* `gc.freeze()` moves everything start-up built into a permanent generation no collection walks
  (it is never garbage: it lives as long as the process);
* the first generation is collected every 20,000 allocations instead of 700: an update's
  short-lived objects mostly die by reference counting anyway, and a young collection costs
  about the same whether 700 or 20,000 objects wait for it.

Reference cycles made after start-up are still collected, just in larger, rarer passes.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger(__name__)

YOUNG_GENERATION_THRESHOLD = 20_000


async def tune_garbage_collector() -> None:
    """A dispatcher startup handler: registered last, it runs once everything else has started."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, old)
    log.info("garbage collector: %d start-up objects frozen", gc.get_freeze_count())
