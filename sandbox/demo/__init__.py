"""The offline demo and sandbox.

* `sandbox.demo.environment`: `sandbox_servers()` (panel simulator + fake Bot API server) and
  `demo_environment()` (those plus the real bot and a funded demo user), reusable by tests;
* `sandbox.demo.chat`: `ChatSession`, the terminal chat engine with no terminal in it;
* `sandbox.demo.render`: Telegram text + entities as terminal text;
* `sandbox.demo.terminal`: the `smmbot demo`, `smmbot chat` and `smmbot sandbox` front ends.

Nothing is imported here, so `smmbot check` and `smmbot run` stay quick to start.
"""
