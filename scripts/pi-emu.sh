#!/usr/bin/env bash
# pi-emu.sh - an emulated Raspberry Pi for the tests: a Debian bookworm arm64 userland under
# qemu-user-static + binfmt_misc in a chroot, with tflite-runtime 2.14 and ai-edge-litert 2.3
# (real aarch64 wheels) and its own sshd on loopback. Its timings are the emulator's, never a Pi's.
#
#   pi-emu.sh build    # debootstrap + pip into a fresh rootfs, then write the cache (4-6 min)
#   pi-emu.sh prepare  # host set-up + the rootfs from the cache (or a build when there is none)
#   pi-emu.sh up       # host set-up, rootfs from cache (or build), mounts, sshd on a free port;
#                      # prints PI_ADDR= PI_PORT= PI_USER= PI_KEY= PI_KNOWN_HOSTS= PI_FINGERPRINT=
#   pi-emu.sh down     # stop our sshd and its sessions (by PID), unmount deepest-first
#   pi-emu.sh status   # running/stopped, endpoint, mounts; exit 0 only when running
#   pi-emu.sh ssh CMD  # run CMD on the emulated Pi (strict host-key checking)
#   pi-emu.sh clean    # down + delete the unpacked rootfs (keeps the cache and the keys)
#
# Everything lives under ${XDG_CACHE_HOME:-~/.cache}/edgesdk/pi-aarch64 (PI_DIR). Knobs:
#   PI_ADDR (127.0.0.1; any 127.0.0.x)  PI_PORT (a free port)  PI_CPU (cortex-a72 = Pi 4)
#   PI_MIRROR (the Debian mirror apt uses)  PI_INDEX_URL (package index inside the chroot)
# Must run as root (mount, chroot). Idempotent; commands that change state hold a lock.
set -euo pipefail

PI_DIR=${PI_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/edgesdk/pi-aarch64}
PI_ADDR=${PI_ADDR:-127.0.0.1}
# qemu's default CPU ("max") advertises SVE/SME, which XNNPACK then uses and qemu emulates ~10x
# slower; cortex-a72 is a Pi 4's core (cortex-a76 for a Pi 5).
PI_CPU=${PI_CPU:-cortex-a72}
SUITE=bookworm
PKGS=python3,python3-venv,python3-pip,openssh-server,openssh-sftp-server,ca-certificates,libstdc++6
PIP_PKGS=(tflite-runtime==2.14.0 ai-edge-litert==2.3.0 'numpy<2')
# The cache key follows the recipe: changing a package list invalidates the cache by itself;
# bump the v-number when the build steps change.
RECIPE=$(printf '%s|%s|%s|v2' "$SUITE" "$PKGS" "${PIP_PKGS[*]}" | sha256sum | cut -c1-12)
R=$PI_DIR/rootfs
KEYS=$PI_DIR/keys
CACHE=$PI_DIR/cache/rootfs-$SUITE-arm64-$RECIPE.tar.zst
ENDPOINT=$PI_DIR/endpoint.env
PIDFILE=$R/run/sshd-pi.pid

log() { printf '[pi-emu %(%T)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
[[ $PI_ADDR =~ ^127\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "PI_ADDR=$PI_ADDR (must be in 127.0.0.0/8)"

lock() {  # one state-changing command at a time (a test run may call 'up' while 'build' runs)
  mkdir -p "$PI_DIR"
  exec 9>"$PI_DIR/.lock"
  flock -w 1800 9 || die "another pi-emu.sh held $PI_DIR/.lock for 30 min"
}

detect_mirror() {  # the Debian mirror apt already uses (deb822 or one-line format)
  local m
  m=$( { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
         grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
           | sed 's/\[[^]]*\]//' | awk '{print $2}'; } | grep -E '/debian/?$' | head -n1 || true)
  echo "${m:-http://deb.debian.org/debian}"
}

host_setup() {
  [ "$(id -u)" = 0 ] || die "must run as root (mount, chroot, binfmt_misc)"
  local need=() p
  for p in qemu-user-static binfmt-support debootstrap zstd openssh-client; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      -o DPkg::Lock::Timeout=600 "${need[@]}" >/dev/null
  fi
  # Without systemd binfmt_misc is not mounted, so the package's postinst could not register.
  mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  grep -qs '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 || update-binfmts --enable qemu-aarch64
  grep -q '^enabled' /proc/sys/fs/binfmt_misc/qemu-aarch64 || die "qemu-aarch64 binfmt not enabled"
  grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 \
    || die "qemu-aarch64 binfmt lacks the F flag (qemu would have to be copied into the rootfs)"
}

fake_cpuinfo() {  # a Pi 4's /proc/cpuinfo: qemu 7.2 shows the host's x86 one and LiteRT 2.3 crashes;
  # the Model line (what benchmarks report as the CPU) says that it is emulated
  local n i; n=$(nproc)
  { for ((i = 0; i < n; i++)); do
      printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n' "$i"
      printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
    done
    printf 'Hardware\t: BCM2835\nRevision\t: c03111\nSerial\t\t: 10000000deadbeef\nModel\t\t: qemu-aarch64 emulating a Raspberry Pi 4 (%s)\n' "$PI_CPU"
  } > "$PI_DIR/cpuinfo.pi4"
}

mounts_up() {
  mountpoint -q "$R/proc" || mount -t proc proc "$R/proc"
  mountpoint -q "$R/sys" || mount -t sysfs sysfs "$R/sys"
  mountpoint -q "$R/dev" || mount --bind /dev "$R/dev"
  mountpoint -q "$R/dev/pts" || mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$R/dev/pts"
  fake_cpuinfo
  grep -q " $R/proc/cpuinfo " /proc/self/mounts || mount --bind "$PI_DIR/cpuinfo.pi4" "$R/proc/cpuinfo"
}

mounts_down() {  # deepest first; only mounts under our rootfs
  local m
  for m in $(awk -v r="$R" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/self/mounts | sort -r); do
    umount "$m"
  done
}

host_files_into_chroot() {  # refreshed on every up: DNS, CA bundle (the host may trust extra CAs), pip
  cp -L /etc/resolv.conf "$R/etc/resolv.conf"
  cp -L /etc/ssl/certs/ca-certificates.crt "$R/etc/ssl/certs/ca-certificates.crt"
  # The host's pip config may name x86-only local wheel folders: the chroot gets its own.
  printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\ndefault-timeout = 180\ndisable-pip-version-check = true\n' \
    > "$R/etc/pip.conf"
  if [ -n "${PI_INDEX_URL:-}" ]; then printf 'index-url = %s\n' "$PI_INDEX_URL" >> "$R/etc/pip.conf"; fi
}

in_chroot() {
  chroot "$R" /usr/bin/env -i QEMU_CPU="$PI_CPU" HOME=/root LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

safe_rm_rootfs() {  # never rm -rf through a bind mount of the host's /dev
  if grep -q " $R[/ ]" /proc/self/mounts; then die "refusing to delete $R: still mounted"; fi
  rm -rf --one-file-system "$R"
}

build() {
  local t0=$SECONDS mirror
  host_setup
  stop_all
  mirror=${PI_MIRROR:-$(detect_mirror)}
  safe_rm_rootfs
  mkdir -p "$PI_DIR/cache"
  log "debootstrap $SUITE arm64 from $mirror (recipe $RECIPE)"
  debootstrap --arch=arm64 --variant=minbase --include="$PKGS" "$SUITE" "$R" "$mirror" \
    > "$PI_DIR/debootstrap.log" 2>&1 || { tail -n 30 "$PI_DIR/debootstrap.log" >&2; die "debootstrap failed"; }
  log "debootstrap done after $((SECONDS - t0)) s"
  echo raspberrypi > "$R/etc/hostname"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\traspberrypi\n::1\t\tlocalhost ip6-localhost\n' > "$R/etc/hosts"
  rm -f "$R"/etc/ssh/ssh_host_*  # the host key is made per machine at 'up', never cached
  host_files_into_chroot
  mounts_up
  log "venv /opt/pyenv + pip install ${PIP_PKGS[*]}"
  in_chroot python3 -m venv /opt/pyenv
  # all in one command: ai-edge-litert alone pulls numpy 2, which tflite-runtime 2.14 cannot use
  in_chroot /opt/pyenv/bin/pip install --no-cache-dir "${PIP_PKGS[@]}" > "$PI_DIR/pip.log" 2>&1 \
    || { tail -n 30 "$PI_DIR/pip.log" >&2; die "pip install failed"; }
  in_chroot /opt/pyenv/bin/python -c 'import numpy, tflite_runtime.interpreter, ai_edge_litert.interpreter'
  ln -sf /opt/pyenv/bin/python "$R/usr/local/bin/python"
  mounts_down
  rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/* "$R"/root/.cache
  echo "$RECIPE" > "$R/etc/pi-emu-recipe"
  log "writing cache $CACHE"
  tar --numeric-owner --one-file-system -C "$R" -cf - . | zstd -q -T0 -10 -f -o "$CACHE.tmp"
  mv -f "$CACHE.tmp" "$CACHE"
  find "$PI_DIR/cache" -name 'rootfs-*.tar.zst' ! -name "$(basename "$CACHE")" -delete
  log "build done in $((SECONDS - t0)) s; cache $(du -h "$CACHE" | cut -f1), rootfs $(du -sh "$R" | cut -f1)"
}

ensure_rootfs() {
  if [ "$(cat "$R/etc/pi-emu-recipe" 2>/dev/null)" = "$RECIPE" ]; then return; fi
  if [ -f "$CACHE" ]; then
    log "restoring $CACHE"
    stop_all
    safe_rm_rootfs
    mkdir -p "$R"
    zstd -q -d -c "$CACHE" | tar --numeric-owner -xpf - -C "$R"
  else
    log "no cache for recipe $RECIPE: building (4-6 minutes on 2 cores, once)"
    build
  fi
}

free_port() {  # a port nobody listens on at PI_ADDR right now
  python3 -c 'import socket, sys
s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1]); s.close()' "$PI_ADDR"
}

configure() {  # keys, known_hosts, ssh_config and sshd_config for PI_ADDR:PI_PORT
  mkdir -p "$KEYS"; chmod 700 "$KEYS"
  [ -f "$KEYS/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C pi-emu-client -f "$KEYS/id_ed25519"
  [ -f "$KEYS/ssh_host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C pi-emu-host -f "$KEYS/ssh_host_ed25519"
  install -m 600 "$KEYS/ssh_host_ed25519" "$R/etc/ssh/pi_host_ed25519_key"
  install -m 644 "$KEYS/ssh_host_ed25519.pub" "$R/etc/ssh/pi_host_ed25519_key.pub"
  install -d -m 700 "$R/root/.ssh"
  install -m 600 "$KEYS/id_ed25519.pub" "$R/root/.ssh/authorized_keys"
  echo "[$PI_ADDR]:$PI_PORT $(cut -d' ' -f1,2 "$KEYS/ssh_host_ed25519.pub")" > "$KEYS/known_hosts"
  cat > "$PI_DIR/ssh_config" <<EOF
Host pi
  HostName $PI_ADDR
  Port $PI_PORT
  User root
  IdentityFile $KEYS/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $KEYS/known_hosts
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 30
EOF
  cat > "$R/etc/ssh/sshd_pi_config" <<EOF
Port $PI_PORT
ListenAddress $PI_ADDR
HostKey /etc/ssh/pi_host_ed25519_key
PidFile /run/sshd-pi.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PrintMotd no
AcceptEnv LANG LC_*
SetEnv PATH=/opt/pyenv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin QEMU_CPU=$PI_CPU
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
}

sshd_pid() {  # the PID from our pid file, only if that process is alive and rooted in our chroot
  local p
  [ -f "$PIDFILE" ] || return 1
  p=$(cat "$PIDFILE")
  [ -n "$p" ] && [ "$(readlink "/proc/$p/root" 2>/dev/null)" = "$R" ] && echo "$p"
}

session_pids() {  # descendants of our sshd (its connections and the commands they run)
  local parent=$1 c
  for c in $(cat /proc/"$parent"/task/*/children 2>/dev/null); do
    echo "$c"
    session_pids "$c"
  done
}

pi_ssh() { ssh -F "$PI_DIR/ssh_config" pi "$@"; }

print_endpoint() {
  cat "$ENDPOINT"
}

up() {
  local t0=$SECONDS i p
  host_setup
  ensure_rootfs
  host_files_into_chroot
  mounts_up
  if p=$(sshd_pid); then
    [ -f "$ENDPOINT" ] || die "sshd (pid $p) runs without $ENDPOINT: run '$0 down' first"
    # shellcheck source=/dev/null
    . "$ENDPOINT"
    log "sshd already running (pid $p) on $PI_ADDR:$PI_PORT"
  else
    PI_PORT=${PI_PORT:-$(free_port)}
    configure
    mkdir -p "$R/run/sshd"; chmod 755 "$R/run/sshd"; rm -f "$PIDFILE"
    # own UTS namespace, so `hostname` says raspberrypi without renaming the host
    QEMU_CPU=$PI_CPU unshare --uts sh -c \
      "hostname raspberrypi && exec chroot '$R' /usr/sbin/sshd -f /etc/ssh/sshd_pi_config -E /var/log/sshd-pi.log"
    printf 'PI_ADDR=%s\nPI_PORT=%s\nPI_USER=root\nPI_KEY=%s\nPI_KNOWN_HOSTS=%s\nPI_SSH_CONFIG=%s\nPI_FINGERPRINT=%s\n' \
      "$PI_ADDR" "$PI_PORT" "$KEYS/id_ed25519" "$KEYS/known_hosts" "$PI_DIR/ssh_config" \
      "$(ssh-keygen -lf "$KEYS/ssh_host_ed25519.pub" | cut -d' ' -f2)" > "$ENDPOINT"
  fi
  for i in $(seq 1 120); do
    if pi_ssh true 2>/dev/null; then
      log "up in $((SECONDS - t0)) s: sshd pid $(sshd_pid) on $PI_ADDR:$PI_PORT, $(pi_ssh uname -m)"
      print_endpoint
      return 0
    fi
    sleep 0.5
  done
  tail -n 20 "$R/var/log/sshd-pi.log" >&2 || true
  die "sshd did not answer on $PI_ADDR:$PI_PORT within 60 s"
}

stop_all() {  # stop our sshd and everything it spawned, by PID; then unmount
  local p pids i
  [ -d "$R" ] || return 0
  if p=$(sshd_pid); then
    pids="$p $(session_pids "$p" | tr '\n' ' ')"
    # shellcheck disable=SC2086
    kill $pids 2>/dev/null || true
    for i in $(seq 1 20); do
      alive=0
      for p in $pids; do [ -d "/proc/$p" ] && alive=1; done
      [ $alive = 0 ] && break
      sleep 0.25
    done
    # shellcheck disable=SC2086
    [ $alive = 0 ] || kill -KILL $pids 2>/dev/null || true
    log "stopped sshd and its sessions (pids $pids)"
  fi
  rm -f "$PIDFILE" "$ENDPOINT"
  mounts_down
  if grep -q " $R[/ ]" /proc/self/mounts; then die "still mounted under $R"; fi
}

down() {
  stop_all
  log "down: nothing of ours runs or is mounted under $R"
}

status() {
  local p
  if p=$(sshd_pid); then
    echo "running: sshd pid $p"; print_endpoint
  else
    echo "stopped"
  fi
  echo "recipe $RECIPE; cache $([ -f "$CACHE" ] && echo "$CACHE" || echo missing)"
  grep " $R[/ ]" /proc/self/mounts || true
  [ -n "${p:-}" ]
}

case "${1:-}" in
  build) lock; build ;;
  prepare) lock; host_setup; ensure_rootfs ;;
  up) lock; up ;;
  down) lock; down ;;
  clean) lock; stop_all; safe_rm_rootfs ;;
  status) status ;;
  ssh) shift; pi_ssh "$@" ;;
  *) die "usage: $0 {build|prepare|up|down|status|ssh CMD|clean}" ;;
esac
