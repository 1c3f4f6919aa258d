from homeport.cli.main import main

raise SystemExit(main())
