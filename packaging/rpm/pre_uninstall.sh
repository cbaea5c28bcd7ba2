# %preun of the .rpm, as %systemd_preun: on erase ($1 = 0), not on upgrade, stop and
# disable the service.
if [ "$1" -eq 0 ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl --no-reload disable --now cds-redis-backup-exporter.service >/dev/null 2>&1 || :
fi
