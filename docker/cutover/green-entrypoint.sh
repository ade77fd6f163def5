#!/bin/bash
# green's entrypoint, run as postgres: on first start, a base backup of
# blue with -R (standby.signal and primary_conninfo, as scripts/cutover-demo
# makes green), then PostgreSQL itself. Its configuration is blue's, copied
# by the backup. Once promoted, a restart starts it as a primary.
set -euo pipefail
if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
  pg_basebackup -h blue -p 5432 -U postgres -D "$PGDATA" -R -X stream --checkpoint=fast
fi
exec postgres -c hot_standby=on
