# %postun of the .rpm, as %systemd_postun_with_restart: forget the removed unit, and on
# upgrade ($1 >= 1) restart the service if it was running, so the new binary runs.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ "$1" -ge 1 ]; then
        systemctl try-restart cds-redis-backup-exporter.service >/dev/null 2>&1 || :
    fi
fi
