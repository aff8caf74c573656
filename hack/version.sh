#!/bin/sh
# The version of a build, as the seed's image tags: `git describe`, falling back to the
# short commit, then to "dev" outside a git checkout.
git describe --tags --always --dirty 2>/dev/null || echo dev
