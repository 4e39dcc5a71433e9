from vmop.cli import main

raise SystemExit(main())
