from delivery_health.cli import main

raise SystemExit(main())
