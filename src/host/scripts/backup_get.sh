# Prints the copy FILE of DIR (the folder of one backup at a host destination).
exec cat @DIR@/@FILE@
