from sdsat_lsp.cli import main

raise SystemExit(main())
