import sys

from affectlens.cli import main

sys.exit(main())
