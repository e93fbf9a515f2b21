"""`python -m bot` starts the bot like `smmbot run`; other sub-commands work too."""

import sys

from bot.cli import main

sys.exit(main())
