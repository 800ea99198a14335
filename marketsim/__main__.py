from marketsim.cli import main

raise SystemExit(main())
