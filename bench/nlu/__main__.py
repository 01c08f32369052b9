"""`python -m bench.nlu`: the NLU benchmark."""

from bench.nlu.run import main

raise SystemExit(main())
