"""Run by the role's hooks in a fault test: tell the test which hook point the run reached, then
block until the test lets the run go on (or kills it). Usage: hook.py DIRECTORY POINT."""

import os
import sys
import time


def main():
    directory, point = sys.argv[1], sys.argv[2]
    path = os.path.join(directory, 'at')
    partial = path + '.partial'
    with open(partial, 'w') as stream:
        stream.write(point)
    os.replace(partial, path)
    # The test removes the file to let the run go on; a kill ends this process with the run.
    deadline = time.monotonic() + 300
    while os.path.exists(path):
        if time.monotonic() > deadline:
            sys.exit('the fault test did not answer at %s' % point)
        time.sleep(0.01)


if __name__ == '__main__':
    main()
