from iterdeploy.cli import main

raise SystemExit(main())
