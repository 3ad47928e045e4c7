"""`python -m codecav` runs the same command line as the `codecav` console script."""

from codecav.cli.main import main

raise SystemExit(main())
