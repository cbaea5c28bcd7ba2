# %post of the .rpm, as %systemd_post would do without rpm's macros: make systemd see
# the new or changed unit. Never enabled or started here: the service needs credentials
# first (/etc/cds-redis-backup-exporter/environment).
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
