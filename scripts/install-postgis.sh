#!/usr/bin/env bash
# Install PostGIS for the machine's PostgreSQL when it is missing (the pgstac STAC backend and
# its tests need it). Called by `make postgis` (and so by `make test`); safe to run again.
set -euo pipefail

pg_config=""
for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r) "$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)")"; do
    if [ -x "$candidate/pg_config" ] && [ -x "$candidate/initdb" ]; then
        pg_config="$candidate/pg_config"
        break
    fi
done
if [ -z "$pg_config" ]; then
    echo "PostgreSQL's server programs (initdb, pg_ctl) are missing: install PostgreSQL 15 or" >&2
    echo "newer (Debian/Ubuntu: apt-get install postgresql-15 postgresql-15-postgis-3)." >&2
    exit 1
fi
major=$("$pg_config" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
if [ -f "$("$pg_config" --sharedir)/extension/postgis.control" ]; then
    echo "PostGIS for PostgreSQL $major: installed"
    exit 0
fi
package="postgresql-$major-postgis-3"
if ! command -v apt-get >/dev/null; then
    echo "PostGIS is missing for PostgreSQL $major and this system has no apt-get: install" >&2
    echo "PostGIS 3 for PostgreSQL $major with your package manager, then run make again." >&2
    exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "PostGIS is missing for PostgreSQL $major: run \`sudo apt-get install -y $package\`" >&2
    echo "(or \`sudo make postgis\`), then run make again." >&2
    exit 1
fi
echo "Installing $package (PostGIS for PostgreSQL $major) with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "$package"
