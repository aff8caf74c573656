from kubedtn.main import main

main()
