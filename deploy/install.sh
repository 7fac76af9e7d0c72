#!/bin/sh
# Install Rapport on a Linux server without the Debian package (RHEL,
# Rocky, Fedora, SUSE, Arch, ...): the binary, the rapport system user, its
# directories, /etc/rapport/rapport.toml and the systemd units. Running it
# again is safe: it updates the binary and units, keeps your configuration
# and data, and restarts the server if it was running.
#
#   sudo deploy/install.sh [--binary PATH] [--no-start]
#   sudo deploy/install.sh --uninstall [--purge] [--purge-data]
#
# --binary      the rapport binary to install (default: ./rapport, then
#               target/release/rapport next to this script's checkout)
# --no-start    install and enable, but do not start now
# --uninstall   stop and remove the program and units; keeps the
#               configuration, the rapport user and all data
# --purge       with --uninstall: also remove /etc/rapport, /var/log/rapport
#               and the rapport user (the data in /var/lib/rapport stays)
# --purge-data  with --uninstall: also delete /var/lib/rapport (database,
#               attachments, certificates, local backups). There is no undo.
set -eu

PREFIX_BIN=/usr/bin/rapport
UNIT_DIR=/etc/systemd/system
CONF_DIR=/etc/rapport
CONF=$CONF_DIR/rapport.toml
DATA_DIR=/var/lib/rapport
LOG_DIR=/var/log/rapport
UNITS="rapport.service rapport-backup.service rapport-backup.timer"

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")

say() { printf 'rapport install: %s\n' "$*"; }
die() { printf 'rapport install: error: %s\n' "$*" >&2; exit 1; }

binary=""
action=install
start=yes
purge=no
purge_data=no
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) [ $# -ge 2 ] || die "--binary needs a path"; binary=$2; shift ;;
        --binary=*) binary=${1#--binary=} ;;
        --no-start) start=no ;;
        --uninstall) action=uninstall ;;
        --purge) purge=yes ;;
        --purge-data) purge_data=yes ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option $1 (see --help)" ;;
    esac
    shift
done

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0 $*)"
if [ "$action" = install ] && { [ "$purge" = yes ] || [ "$purge_data" = yes ]; }; then
    die "--purge and --purge-data only go with --uninstall"
fi

systemd_running() { [ -d /run/systemd/system ]; }

uninstall() {
    if systemd_running; then
        for unit in rapport-backup.timer rapport.service; do
            systemctl disable --now "$unit" >/dev/null 2>&1 || true
        done
    fi
    for unit in $UNITS; do
        if [ -f "$UNIT_DIR/$unit" ]; then
            rm -f "$UNIT_DIR/$unit"
            say "removed $UNIT_DIR/$unit"
        fi
    done
    systemd_running && systemctl daemon-reload
    if [ -f "$PREFIX_BIN" ]; then
        rm -f "$PREFIX_BIN"
        say "removed $PREFIX_BIN"
    fi
    if [ "$purge" = yes ] || [ "$purge_data" = yes ]; then
        rm -rf "$CONF_DIR" "$LOG_DIR"
        say "removed $CONF_DIR and $LOG_DIR"
        if [ "$purge_data" = yes ]; then
            rm -rf "$DATA_DIR"
            say "deleted $DATA_DIR"
        fi
        if getent passwd rapport >/dev/null; then
            userdel rapport
            say "removed the rapport user"
        fi
        if getent group rapport >/dev/null; then
            groupdel rapport 2>/dev/null || true
        fi
    fi
    if [ -d "$DATA_DIR" ]; then
        say "your data stays in $DATA_DIR; delete it with --uninstall --purge-data"
    fi
    say "uninstalled"
}

find_binary() {
    if [ -n "$binary" ]; then
        [ -f "$binary" ] || die "--binary $binary: no such file"
    elif [ -f ./rapport ]; then
        binary=./rapport
    elif [ -f "$repo/target/release/rapport" ]; then
        binary=$repo/target/release/rapport
    else
        die "no rapport binary: pass --binary PATH (or build one: cargo build --release)"
    fi
    [ -x "$binary" ] || die "$binary is not executable"
    "$binary" version >/dev/null 2>&1 || die "$binary does not run on this machine ($binary version failed)"
}

source_file() {
    # Files next to this script (a checkout or an unpacked release archive).
    for candidate in "$repo/$1" "$here/$(basename "$1")"; do
        if [ -f "$candidate" ]; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    die "$1 not found next to $0"
}

install_all() {
    find_binary
    command -v systemctl >/dev/null || die "systemd is needed (systemctl not found); run 'rapport serve --config $CONF' under your own supervisor"

    if ! getent group rapport >/dev/null; then
        groupadd --system rapport
        say "created the rapport group"
    fi
    if ! getent passwd rapport >/dev/null; then
        nologin=$(command -v nologin || echo /sbin/nologin)
        useradd --system --gid rapport --home-dir "$DATA_DIR" --no-create-home \
            --shell "$nologin" --comment "Rapport CRM" rapport
        say "created the rapport user"
    fi

    install -d -o rapport -g rapport -m 0750 "$DATA_DIR" "$LOG_DIR"
    install -d -o root -g rapport -m 0750 "$CONF_DIR"

    was_running=no
    if systemd_running && systemctl is-active --quiet rapport.service; then
        was_running=yes
    fi
    tmp=$(mktemp "$PREFIX_BIN.XXXXXX")
    cp "$binary" "$tmp"
    chmod 0755 "$tmp"
    mv -f "$tmp" "$PREFIX_BIN"
    say "installed $PREFIX_BIN ($("$PREFIX_BIN" version))"

    default_conf=$(source_file deploy/rapport.toml)
    if [ ! -f "$CONF" ]; then
        install -o root -g rapport -m 0640 "$default_conf" "$CONF"
        say "wrote $CONF (data in $DATA_DIR, https on port 8443, self-signed certificate)"
    elif ! cmp -s "$default_conf" "$CONF"; then
        install -o root -g rapport -m 0640 "$default_conf" "$CONF.new"
        say "kept your $CONF; the current default is in $CONF.new for comparison"
    fi
    chown root:rapport "$CONF"

    for unit in $UNITS; do
        install -m 0644 "$(source_file "systemd/$unit")" "$UNIT_DIR/$unit"
    done
    say "installed the units in $UNIT_DIR"

    # A configuration an older version left behind may name keys this one
    # does not know: check it now, as the service will.
    if command -v runuser >/dev/null; then
        set +e
        check=$(runuser -u rapport -- "$PREFIX_BIN" --config "$CONF" doctor 2>&1)
        code=$?
        set -e
        if [ "$code" -eq 2 ]; then
            printf '%s\n' "$check" >&2
            die "$CONF has a problem (above); fix it, then run $0 again. Nothing was started."
        fi
    fi

    if ! systemd_running; then
        say "systemd is not running here: units installed but not enabled"
        return 0
    fi
    systemctl daemon-reload
    systemctl enable --quiet rapport.service rapport-backup.timer
    if [ "$start" = no ]; then
        say "enabled; start with: systemctl start rapport rapport-backup.timer"
        return 0
    fi
    if [ "$was_running" = yes ]; then
        systemctl restart rapport.service
        say "restarted rapport.service with the new binary (it migrates the database if needed)"
    else
        systemctl start rapport.service
        say "started rapport.service"
    fi
    systemctl start rapport-backup.timer
    if systemctl is-active --quiet rapport.service; then
        say "running. The one-time setup link: journalctl -u rapport | grep setup"
    else
        die "rapport.service did not start; see: journalctl -u rapport -n 50"
    fi
}

case "$action" in
    install) install_all ;;
    uninstall) uninstall ;;
esac
