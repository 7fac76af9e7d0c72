#!/bin/sh
# Check a built rapport .deb: its control data and contents, then install,
# start, remove and purge it inside a throwaway copy-on-write root (an
# overlay of / in a private mount namespace; needs root and CAP_SYS_ADMIN,
# skipped with a note otherwise); then the same for deploy/install.sh (run
# twice, then --uninstall --purge) with the packaged binary. The host is not
# changed.
#
#   deploy/check-deb.sh target/debian/rapport_*.deb
set -eu

deb=$(realpath "$1")
repo=$(cd "$(dirname "$0")/.." && pwd)
fail() { printf 'check-deb: FAIL: %s\n' "$*" >&2; exit 1; }
ok() { printf 'check-deb: ok    %s\n' "$*"; }

contents=$(dpkg-deb --contents "$deb")
for path in ./usr/bin/rapport ./etc/rapport/rapport.toml \
    ./usr/lib/systemd/system/rapport.service \
    ./usr/lib/systemd/system/rapport-backup.service \
    ./usr/lib/systemd/system/rapport-backup.timer \
    ./usr/share/doc/rapport/deploy/README.md; do
    printf '%s\n' "$contents" | grep -q " $path\$" || fail "$path missing from the package"
done
printf '%s\n' "$contents" | grep -q '^-rw-r----- 0/0 .* ./etc/rapport/rapport.toml$' \
    || fail "rapport.toml is not 0640 root"
ok "contents ($(du -k "$deb" | cut -f1) KiB)"

control=$(mktemp -d)
trap 'rm -rf "$control"' EXIT
dpkg-deb -e "$deb" "$control"
grep -qx /etc/rapport/rapport.toml "$control/conffiles" || fail "rapport.toml is not a conffile"
for script in postinst prerm postrm; do
    sh -n "$control/$script" || fail "$script does not parse"
done
grep -q 'deb-systemd-helper enable rapport.service' "$control/postinst" || fail "postinst does not enable rapport.service"
grep -q 'deb-systemd-helper enable rapport-backup.timer' "$control/postinst" || fail "postinst does not enable the timer"
ok "control: conffile, maintainer scripts, systemd snippets"

if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null; then
    echo "check-deb: skipped the install test (needs root and unshare)"
    exit 0
fi
work=$(mktemp -d /var/tmp/rapport-deb-XXXXXX)
trap 'rm -rf "$control" "$work"' EXIT
mkdir "$work/upper" "$work/work" "$work/root"
cp "$deb" "$work/upper/rapport.deb"

# Inside the throwaway root: install, check, run, purge; data kept.
cat >"$work/upper/inside.sh" <<'EOF'
set -eu
fail() { printf 'check-deb: FAIL (in the throwaway root): %s\n' "$*" >&2; exit 1; }
dpkg -i /rapport.deb >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg -i"; }
getent passwd rapport | grep -q ':/var/lib/rapport:/usr/sbin/nologin$' || fail "no rapport system user"
[ "$(stat -c '%U:%G %a' /var/lib/rapport)" = "rapport:rapport 750" ] || fail "/var/lib/rapport: $(stat -c '%U:%G %a' /var/lib/rapport)"
[ "$(stat -c '%U:%G %a' /var/log/rapport)" = "rapport:rapport 750" ] || fail "/var/log/rapport"
[ "$(stat -c '%U:%G %a' /etc/rapport)" = "root:rapport 750" ] || fail "/etc/rapport: $(stat -c '%U:%G %a' /etc/rapport)"
[ "$(stat -c '%U:%G %a' /etc/rapport/rapport.toml)" = "root:rapport 640" ] || fail "rapport.toml mode"
runuser -u rapport -- rapport --config /etc/rapport/rapport.toml migrate >/dev/null || fail "migrate as the rapport user"
runuser -u rapport -- rapport --config /etc/rapport/rapport.toml doctor >/tmp/doctor.log 2>&1 || { cat /tmp/doctor.log; fail "doctor"; }
[ -f /var/lib/rapport/rapport.db ] || fail "no database in /var/lib/rapport"
# Reinstalling (an upgrade to the same version) keeps it all.
dpkg -i /rapport.deb >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; fail "dpkg -i again"; }
dpkg --purge rapport >/tmp/purge.log 2>&1 || { cat /tmp/purge.log; fail "dpkg --purge"; }
! getent passwd rapport >/dev/null || fail "purge left the rapport user"
[ ! -e /etc/rapport ] || fail "purge left /etc/rapport"
[ -f /var/lib/rapport/rapport.db ] || fail "purge deleted the data without RAPPORT_PURGE_DATA=yes"
grep -q 'your data stays in /var/lib/rapport' /tmp/purge.log || fail "purge did not say where the data is"
dpkg -i /rapport.deb >/dev/null 2>&1 || fail "reinstall"
RAPPORT_PURGE_DATA=yes dpkg --purge rapport >/dev/null 2>&1 || fail "purge with data"
[ ! -e /var/lib/rapport ] || fail "RAPPORT_PURGE_DATA=yes kept /var/lib/rapport"

# deploy/install.sh, twice (idempotent), then uninstall.
dpkg-deb -x /rapport.deb /pkg
for run in first second; do
    sh "$REPO/deploy/install.sh" --binary /pkg/usr/bin/rapport >/tmp/install.log 2>&1 \
        || { cat /tmp/install.log; fail "install.sh ($run run)"; }
done
if grep -q "kept your /etc/rapport/rapport.toml" /tmp/install.log; then fail "second run found a changed config"; fi
[ -x /usr/bin/rapport ] && [ -f /etc/systemd/system/rapport.service ] || fail "install.sh: files missing"
[ "$(stat -c '%U:%G %a' /etc/rapport/rapport.toml)" = "root:rapport 640" ] || fail "install.sh: rapport.toml mode"
getent passwd rapport >/dev/null || fail "install.sh: no rapport user"
sh "$REPO/deploy/install.sh" --uninstall --purge >/tmp/uninstall.log 2>&1 || { cat /tmp/uninstall.log; fail "install.sh --uninstall --purge"; }
if [ -e /usr/bin/rapport ] || [ -e /etc/rapport ] || getent passwd rapport >/dev/null; then fail "install.sh --uninstall left files or the user"; fi
EOF

if ! unshare -m sh -c "mount -t overlay overlay -o lowerdir=/,upperdir=$work/upper,workdir=$work/work $work/root 2>/dev/null \
    && mount -t proc proc $work/root/proc && REPO=$repo exec chroot $work/root sh /inside.sh"; then
    if [ -f "$work/upper/inside.sh" ] && [ ! -e "$work/upper/var" ]; then
        echo "check-deb: skipped the install test (no overlay mount here)"
        exit 0
    fi
    fail "install test"
fi
ok "install, migrate and doctor as the rapport user, reinstall, purge (data kept), purge with RAPPORT_PURGE_DATA=yes"
ok "deploy/install.sh twice, then --uninstall --purge"
