#!/bin/sh
# conf-man.sh - crmsync.conf(5) cannot drift from the code: the plugin options in doc/crmsync.conf.5
# must be exactly what the built plugins' option tables say (crmsyncd --list-plugins=json), and every
# key of the core schema (core/config/core_schema.c) must have its paragraph with its default; every installed plugin
# ($(plugin_LTLIBRARIES)) must have its section. Fix: make update-conf-man.
set -eu
: "${CRMSYNCD:?run through make check}" "${srcdir:?run through make check}"
: "${CS_INSTALLED_PLUGINS:?run through make check}"
exec "${PYTHON3:-python3}" "$srcdir/dist/conf-man.py" --crmsyncd "$CRMSYNCD" --plugins "$(dirname "$CRMSYNCD")" \
    --installed "$CS_INSTALLED_PLUGINS" --core-schema "$srcdir/core/config/core_schema.c" --check "$srcdir/doc/crmsync.conf.5"
