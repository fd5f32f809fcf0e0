# Sourced by ./jeg-wizard and tests/run (bash): apt-get as the wizard runs it. A fresh server's
# unattended-upgrades (or cloud-init) holds apt's locks for minutes after its first boot: dpkg's lock is
# waited for by apt itself (DPkg::Lock::Timeout), the package lists' lock, which apt-get update cannot
# wait for, by trying again every 5 s for up to 10 minutes (jeg_wizard/actions/packages.py does the same).
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"; }
apt_update() {  # apt_update [APT OPTIONS...]
  local out n=0
  until out=$(apt_get "$@" update -q 2>&1); do
    if [[ $out != *"Could not get lock"* ]] || ((++n > 120)); then printf '%s\n' "$out" >&2; return 1; fi
    echo "waiting for another package manager to finish (it holds apt's package lists)" >&2
    sleep 5
  done
  printf '%s\n' "$out" >&2
}
