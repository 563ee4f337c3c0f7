from cardcore.cli import main

raise SystemExit(main())
