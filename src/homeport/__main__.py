from homeport.cli import main

raise SystemExit(main())
