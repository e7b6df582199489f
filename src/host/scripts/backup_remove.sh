# Removes the copies FILES of DIR (the folder of one backup at a host destination): the
# retention's choice.
cd @DIR@ || exit 1
rm -f -- @FILES@
