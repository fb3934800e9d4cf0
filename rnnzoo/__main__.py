from rnnzoo.cli import main

main()
