#!/bin/sh
# Install cardcore as a system service: a virtual environment of its own under
# /opt/cardcore (Debian 12 refuses pip installs into the system Python, PEP
# 668), the configuration in /etc/cardcore, the state in /var/lib/cardcore,
# a `cardcore` system user, the systemd unit, the polkit rule for pcscd and
# the udev rule for the PIN pad. Run as root from a checkout of the
# repository. Installing again upgrades in place and keeps the configuration
# and the state.
#
#   tools/deploy/install.sh                        # from the checkout (pip reaches PyPI)
#   tools/deploy/install.sh --build-wheelhouse DIR # every wheel the image needs, in DIR
#   tools/deploy/install.sh --wheelhouse DIR       # offline, from those wheels
#   tools/deploy/install.sh --root ROOTFS --wheelhouse DIR   # into a root file system
#
# Every path can be moved (--prefix, --sysconfdir, ...): the installed unit
# names the paths given. --no-user installs without creating or chowning to
# the service user, for a staging tree. `install.sh --help` lists it all.
set -eu

PREFIX=/opt/cardcore
SYSCONFDIR=/etc/cardcore
STATEDIR=/var/lib/cardcore
UNITDIR=/etc/systemd/system
POLKITDIR=/etc/polkit-1/rules.d
UDEVDIR=/etc/udev/rules.d
SYSUSERSDIR=/etc/sysusers.d
SERVICE_USER=cardcore
PYTHON=python3
EXTRAS=pcsc,usb
PINPAD_ID=1209:0001
WHEELHOUSE=
BUILD_WHEELHOUSE=
ROOT=
CREATE_USER=yes
ENABLE=no

HERE=$(cd "$(dirname "$0")" && pwd)
SOURCE=$(cd "$HERE/../.." && pwd)

die() {
    echo "install.sh: $*" >&2
    exit 1
}

usage() {
    cat <<EOF
usage: install.sh [OPTIONS]
  --prefix DIR            the virtual environment (default: $PREFIX)
  --sysconfdir DIR        configuration (default: $SYSCONFDIR)
  --statedir DIR          the data dir: journal, keys (default: $STATEDIR)
  --unitdir DIR           systemd unit (default: $UNITDIR)
  --polkitdir DIR         polkit rules (default: $POLKITDIR)
  --udevdir DIR           udev rules (default: $UDEVDIR)
  --sysusersdir DIR       sysusers.d entry (default: $SYSUSERSDIR)
  --user NAME             the service user and group (default: $SERVICE_USER)
  --python PATH           Python 3.11 or newer (default: $PYTHON)
  --extras LIST           cardcore extras (default: $EXTRAS; "" for none)
  --pinpad-id VID:PID     the PIN pad of the udev rule, hex (default: $PINPAD_ID)
  --wheelhouse DIR        install from the wheels in DIR only (no network)
  --build-wheelhouse DIR  only build the wheels of cardcore and its dependencies into DIR
  --root DIR              install into the root file system DIR (chroot; needs --wheelhouse)
  --no-user               neither create the service user nor give it the files
  --enable                systemctl enable cardcore (and start it when systemd runs)
EOF
}

while [ $# -gt 0 ]; do
    case "$1" in
    --prefix) PREFIX=$2; shift ;;
    --sysconfdir) SYSCONFDIR=$2; shift ;;
    --statedir) STATEDIR=$2; shift ;;
    --unitdir) UNITDIR=$2; shift ;;
    --polkitdir) POLKITDIR=$2; shift ;;
    --udevdir) UDEVDIR=$2; shift ;;
    --sysusersdir) SYSUSERSDIR=$2; shift ;;
    --user) SERVICE_USER=$2; shift ;;
    --python) PYTHON=$2; shift ;;
    --extras) EXTRAS=$2; shift ;;
    --pinpad-id) PINPAD_ID=$2; shift ;;
    --wheelhouse) WHEELHOUSE=$2; shift ;;
    --build-wheelhouse) BUILD_WHEELHOUSE=$2; shift ;;
    --root) ROOT=$2; shift ;;
    --no-user) CREATE_USER=no ;;
    --enable) ENABLE=yes ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
    esac
    shift
done

REQUIREMENT="cardcore"
[ -n "$EXTRAS" ] && REQUIREMENT="cardcore[$EXTRAS]"

check_python() {
    "$1" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
        die "$1: Python 3.11 or newer is needed (apt-get install python3)"
}

# --- the wheels of an image ----------------------------------------------------
# Built where compilers are (pyscard has no binary wheels for Linux: it needs
# gcc, swig, the Python headers and libpcsclite-dev), for the Python version
# and architecture of the image; the image itself then needs none of them.
if [ -n "$BUILD_WHEELHOUSE" ]; then
    check_python "$PYTHON"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    "$PYTHON" -m venv "$work/venv" || die "python3 -m venv failed (apt-get install python3-venv)"
    "$work/venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
    mkdir -p "$BUILD_WHEELHOUSE"
    "$work/venv/bin/python" -m pip wheel -q --disable-pip-version-check \
        -w "$BUILD_WHEELHOUSE" "$SOURCE${EXTRAS:+[$EXTRAS]}" pip
    echo "wheels of $REQUIREMENT in $BUILD_WHEELHOUSE"
    exit 0
fi

# --- into another root file system ---------------------------------------------
# The script, its files and the wheels are copied in and the script runs again
# there under chroot, with the root file system's own Python.
if [ -n "$ROOT" ]; then
    [ -n "$WHEELHOUSE" ] || die "--root needs --wheelhouse (the root has no checkout)"
    [ -x "$ROOT/bin/sh" ] || die "$ROOT: not a root file system (no /bin/sh)"
    stage=$(mktemp -d "$ROOT/tmp/cardcore-install.XXXXXX")
    trap 'rm -rf "$stage"' EXIT
    mkdir -p "$stage/tools/deploy" "$stage/wheelhouse"
    cp "$HERE"/* "$stage/tools/deploy/"
    cp "$WHEELHOUSE"/*.whl "$stage/wheelhouse/"
    inner=${stage#"$ROOT"}
    set -- --prefix "$PREFIX" --sysconfdir "$SYSCONFDIR" --statedir "$STATEDIR" \
        --unitdir "$UNITDIR" --polkitdir "$POLKITDIR" --udevdir "$UDEVDIR" \
        --sysusersdir "$SYSUSERSDIR" --user "$SERVICE_USER" --python "$PYTHON" \
        --extras "$EXTRAS" --pinpad-id "$PINPAD_ID" --wheelhouse "$inner/wheelhouse"
    [ "$CREATE_USER" = no ] && set -- "$@" --no-user
    [ "$ENABLE" = yes ] && set -- "$@" --enable
    # A clean environment: nothing of this machine's (PIP_*, PYTHON*) goes in.
    chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 /bin/sh "$inner/tools/deploy/install.sh" "$@"
    exit $?
fi

check_python "$PYTHON"
case "$PINPAD_ID" in
[0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F]:[0-9a-fA-F][0-9a-fA-F][0-9a-fA-F][0-9a-fA-F]) ;;
*) die "--pinpad-id $PINPAD_ID: expected VID:PID, four hex digits each" ;;
esac
case "$SERVICE_USER" in
*[!a-z0-9_-]* | "") die "--user $SERVICE_USER: lower-case letters, digits, _ and - only" ;;
esac

# --- the virtual environment ---------------------------------------------------
# pip comes from ensurepip (Debian: python3-venv) or, on a root file system
# without it, from the wheelhouse's pip wheel, which runs straight from the file.
if [ ! -x "$PREFIX/bin/python" ]; then
    mkdir -p "$(dirname "$PREFIX")"
    if "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
        "$PYTHON" -m venv "$PREFIX"
    else
        set -- "${WHEELHOUSE:-/nonexistent}"/pip-*.whl
        [ -f "$1" ] || die "$PYTHON has no ensurepip: apt-get install python3-venv, or give a --wheelhouse with a pip wheel"
        "$PYTHON" -m venv --without-pip "$PREFIX"
        "$PREFIX/bin/python" "$1/pip" install -q --disable-pip-version-check \
            --no-index --find-links "$WHEELHOUSE" pip
    fi
fi
if [ -n "$WHEELHOUSE" ]; then
    "$PREFIX/bin/python" -m pip install -q --disable-pip-version-check --upgrade \
        --no-index --find-links "$WHEELHOUSE" "$REQUIREMENT"
else
    "$PREFIX/bin/python" -m pip install -q --disable-pip-version-check --upgrade \
        "$SOURCE${EXTRAS:+[$EXTRAS]}"
fi
"$PREFIX/bin/cardcore" --version >/dev/null || die "$PREFIX/bin/cardcore does not run"

# --- the service user ----------------------------------------------------------
mkdir -p "$SYSUSERSDIR"
sed -e "s#^u cardcore #u $SERVICE_USER #" -e "s#/var/lib/cardcore#$STATEDIR#" \
    "$HERE/cardcore.sysusers" >"$SYSUSERSDIR/cardcore.conf"
chmod 644 "$SYSUSERSDIR/cardcore.conf"
if [ "$CREATE_USER" = yes ] && ! getent passwd "$SERVICE_USER" >/dev/null; then
    if command -v systemd-sysusers >/dev/null; then
        systemd-sysusers "$SYSUSERSDIR/cardcore.conf"
    elif command -v useradd >/dev/null; then
        useradd --system --user-group --home-dir "$STATEDIR" --no-create-home \
            --shell /usr/sbin/nologin --comment "cardcore payment terminal" "$SERVICE_USER"
    elif command -v adduser >/dev/null; then # busybox
        addgroup -S "$SERVICE_USER"
        adduser -S -D -H -h "$STATEDIR" -s /sbin/nologin -G "$SERVICE_USER" "$SERVICE_USER"
    else
        die "no systemd-sysusers, useradd or adduser to create the user $SERVICE_USER"
    fi
fi

own() { # own MODE OWNER:GROUP PATH
    chmod "$1" "$3"
    if [ "$CREATE_USER" = yes ]; then chown "$2" "$3"; fi
}

# --- configuration and state ---------------------------------------------------
mkdir -p "$SYSCONFDIR" "$STATEDIR"
own 750 "root:$SERVICE_USER" "$SYSCONFDIR"
if [ ! -e "$SYSCONFDIR/cardcore.toml" ]; then
    sed -e "s/^vendor-id = 0x1209/vendor-id = 0x${PINPAD_ID%%:*}/" \
        -e "s/^product-id = 0x0001/product-id = 0x${PINPAD_ID##*:}/" \
        -e "s#/opt/cardcore#$PREFIX#g" -e "s#/etc/cardcore#$SYSCONFDIR#g" \
        "$HERE/cardcore.toml" >"$SYSCONFDIR/cardcore.toml"
fi
own 640 "root:$SERVICE_USER" "$SYSCONFDIR/cardcore.toml"
"$PREFIX/bin/cardcore" config check "$SYSCONFDIR/cardcore.toml" >/dev/null
own 700 "$SERVICE_USER:$SERVICE_USER" "$STATEDIR"

# --- systemd unit, polkit and udev rules ---------------------------------------
# The unit's StateDirectory= and ConfigurationDirectory= are relative to
# /var/lib and /etc; other places become plain paths the sandbox lets through.
unit_paths() {
    case "$STATEDIR" in
    /var/lib/?*) echo "-e s#^StateDirectory=cardcore#StateDirectory=${STATEDIR#/var/lib/}#" ;;
    *) echo "-e s#^StateDirectory=cardcore#ReadWritePaths=$STATEDIR# -e /^StateDirectoryMode=/d" ;;
    esac
    case "$SYSCONFDIR" in
    /etc/?*) echo "-e s#^ConfigurationDirectory=cardcore#ConfigurationDirectory=${SYSCONFDIR#/etc/}#" ;;
    *) echo "-e /^ConfigurationDirectory/d" ;;
    esac
}
mkdir -p "$UNITDIR" "$POLKITDIR" "$UDEVDIR"
# shellcheck disable=SC2046 # unit_paths prints sed arguments, one word each
sed -e "s#/opt/cardcore/bin/cardcore#$PREFIX/bin/cardcore#" \
    -e "s#/etc/cardcore/cardcore.toml#$SYSCONFDIR/cardcore.toml#" \
    -e "s#--data-dir /var/lib/cardcore#--data-dir $STATEDIR#" \
    -e "s#^User=cardcore#User=$SERVICE_USER#" -e "s#^Group=cardcore#Group=$SERVICE_USER#" \
    $(unit_paths) "$HERE/cardcore.service" >"$UNITDIR/cardcore.service"
sed -e "s#subject.user == \"cardcore\"#subject.user == \"$SERVICE_USER\"#" \
    "$HERE/60-cardcore-pcscd.rules" >"$POLKITDIR/60-cardcore-pcscd.rules"
vid=$(echo "${PINPAD_ID%%:*}" | tr 'A-F' 'a-f')
pid=$(echo "${PINPAD_ID##*:}" | tr 'A-F' 'a-f')
sed -e "s#==\"1209\"#==\"$vid\"#g" -e "s#==\"0001\"#==\"$pid\"#g" \
    -e "s#GROUP=\"cardcore\"#GROUP=\"$SERVICE_USER\"#g" \
    "$HERE/60-cardcore-pinpad.rules" >"$UDEVDIR/60-cardcore-pinpad.rules"
chmod 644 "$UNITDIR/cardcore.service" "$POLKITDIR/60-cardcore-pcscd.rules" \
    "$UDEVDIR/60-cardcore-pinpad.rules"

# --- tell the running system ---------------------------------------------------
# Only where systemd is the running init and udev is up: not in a chroot or a
# staging tree.
running_systemd=no
[ -d /run/systemd/system ] && [ "$CREATE_USER" = yes ] && running_systemd=yes
if [ "$running_systemd" = yes ]; then
    systemctl daemon-reload
fi
if [ "$CREATE_USER" = yes ] && [ -S /run/udev/control ] && command -v udevadm >/dev/null; then
    udevadm control --reload
    udevadm trigger --subsystem-match=usb --attr-match="idVendor=$vid" || true
fi
if [ "$ENABLE" = yes ]; then
    if [ "$running_systemd" = yes ]; then
        systemctl enable --now cardcore.service
    else
        systemctl enable cardcore.service
    fi
fi

echo "cardcore $("$PREFIX/bin/cardcore" --version | cut -d' ' -f2) installed in $PREFIX"
echo "  configuration: $SYSCONFDIR/cardcore.toml   state: $STATEDIR   user: $SERVICE_USER"
[ "$ENABLE" = yes ] || echo "  start it: systemctl enable --now cardcore; its log: journalctl -t cardcore -f"
