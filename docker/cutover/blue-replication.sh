#!/bin/bash
# Run once by the postgres image's entrypoint after initdb. The image lets
# replication connections in from localhost only; green's pg_basebackup and
# WAL receiver come from another container.
echo "host replication postgres all trust" >>"$PGDATA/pg_hba.conf"
