from nexforge.cli.app import main

main()
