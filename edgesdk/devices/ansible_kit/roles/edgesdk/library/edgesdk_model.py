#!/usr/bin/python
# ruff: noqa: UP031, E402  (Ansible module layout; runs on device Pythons from 3.8)
"""Ansible module: edgesdk's device layout (verified switch, kept versions, rollback) on a device."""

# Runs on the device's Python (3.8 or newer, standard library only). The layout and its
# crash-safe change are the spec in edgesdk/devices/layout.py, which `edgesdk deploy` follows
# too, so both tools can be mixed (tests/devices/test_layout_spec.py holds both to it):
# WORKDIR/models/<sha256[:16]>.tflite, WORKDIR/current.tflite a relative symlink to
# models/<file>, WORKDIR/deployments.json with the last versions, oldest first, and a
# "pending" history while a change is under way, and WORKDIR/.edgesdk.lock (flock).

DOCUMENTATION = r"""
module: edgesdk_model
short_description: Switch, query or roll back the model of an edgesdk device
description:
  - C(state=query) says whether a model is current or its file already on the device and
    names a temporary upload path; it changes nothing.
  - C(state=present) verifies the sha256 of the uploaded file (or of the file already in
    C(models/)) on the device, renames it into place, switches C(current.tflite) atomically
    and keeps the last 3 versions; nothing changes when the model is already current.
  - C(state=rollback) makes the previous version current again.
options:
  workdir: {description: The device's edgesdk folder (relative to the home folder unless absolute)., type: str, required: true}
  state: {description: What to do., type: str, choices: [query, present, rollback], default: present}
  sha256: {description: sha256 of the model (query and present)., type: str}
  name: {description: The model's file name for the history (present)., type: str}
  upload: {description: Path of the uploaded temporary file (present, when it was uploaded)., type: str}
  deployed_at: {description: Deployment time (seconds since the epoch; the controller's clock)., type: float}
"""

RETURN = r"""
action: {description: uploaded, switched, unchanged, rolled back or query., type: str}
current: {description: The current deployment (sha256, name, size, file, deployed_at)., type: dict}
previous: {description: The deployment before this run's change., type: dict}
needs_upload: {description: (query) the model's file must be uploaded., type: bool}
upload_path: {description: (query) where to upload it (a temporary name in models/)., type: str}
workdir: {description: The absolute edgesdk folder on the device., type: str}
current_path: {description: The absolute path of current.tflite., type: str}
python: {description: The device's Python that ran this module., type: str}
"""

import binascii
import errno
import fcntl
import hashlib
import json
import os
import sys
import time

from ansible.module_utils.basic import AnsibleModule

KEEP_VERSIONS = 3
CURRENT = "current.tflite"
HISTORY = "deployments.json"
MODELS = "models"
LOCK = ".edgesdk.lock"
UPLOAD_PREFIX = ".upload-"
TEMP_PREFIXES = (".%s." % HISTORY, ".%s." % CURRENT)
FIELDS = ("sha256", "name", "size", "file", "deployed_at")
LOCK_WAIT = 60.0


class Busy(Exception):
    """Another tool holds the work folder's lock."""


def remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass


def check_entries(entries):
    """History entries, field by field (layout.check_entry)."""
    if not isinstance(entries, list):
        raise ValueError("deployments is not a list")
    for e in entries:
        if not isinstance(e, dict) or sorted(e) != sorted(FIELDS):
            raise ValueError("unexpected fields %s" % (sorted(e) if isinstance(e, dict) else e))
        sha = e["sha256"]
        if not isinstance(sha, str) or len(sha) != 64 or sha.strip("0123456789abcdef"):
            raise ValueError("sha256 %r is not 64 lowercase hex digits" % (sha,))
        if e["file"] != "%s.tflite" % sha[:16]:
            raise ValueError("file %r is not <sha256[:16]>.tflite" % (e["file"],))
    return entries


def kept(entries):
    """The last KEEP_VERSIONS distinct versions (layout.kept)."""
    out, seen = [], set()
    for e in reversed(entries):
        if e["sha256"] not in seen and len(seen) < KEEP_VERSIONS:
            seen.add(e["sha256"])
            out.append(e)
    out.reverse()
    return out


def token():
    return binascii.hexlify(os.urandom(6)).decode("ascii")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Store:
    """The device's workdir, as edgesdk's RemoteStore sees it."""

    def __init__(self, workdir):
        workdir = os.path.expanduser(workdir)
        if not os.path.isabs(workdir):
            workdir = os.path.join(os.path.expanduser("~"), workdir)
        self.workdir = os.path.normpath(workdir)
        self.models = os.path.join(self.workdir, MODELS)

    def path(self, *parts):
        return os.path.join(self.workdir, *parts)

    def lock(self):
        """flock the work folder (released when this process ends); an error names the holder."""
        self.ensure_dirs()
        fd = os.open(self.path(LOCK), os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.time() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.time() >= deadline:
                    holder = os.pread(fd, 300, 0).decode("utf-8", "replace").strip()
                    raise Busy(holder or "a tool that did not name itself") from None
                time.sleep(0.1)
        try:
            os.ftruncate(fd, 0)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
            os.pwrite(
                fd, ("ansible edgesdk_model pid %d since %s" % (os.getpid(), stamp)).encode(), 0
            )
        except OSError:
            pass
        self.lock_fd = fd

    def history(self):
        """The history that agrees with current.tflite (layout.resolve)."""
        try:
            with open(self.path(HISTORY), "rb") as f:
                data = json.loads(f.read().decode("utf-8"))
        except OSError as e:
            if e.errno == errno.ENOENT:
                return []
            raise  # unreadable: stop before anything is changed or deleted
        committed = check_entries(data["deployments"])
        pending = data.get("pending")
        if pending is None:
            return committed
        if sorted(pending) != ["current", "deployments"]:
            raise ValueError("'pending' is not {current, deployments}")
        if pending["current"] == self.current_target():
            return check_entries(pending["deployments"])
        return committed

    def write_history(self, entries, pending=None, pending_current=None):
        tmp = self.path(".%s.%s" % (HISTORY, token()[:8]))
        data = {"deployments": entries}
        if pending is not None:
            data["pending"] = {"current": pending_current, "deployments": pending}
        payload = json.dumps(data, indent=2).encode("utf-8")
        try:
            with open(tmp, "wb") as f:
                f.write(payload)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, self.path(HISTORY))
        except OSError:
            remove_quietly(tmp)
            raise

    def commit(self, before, after, file, prune=True):
        """Pending history, switch (the commit point), final history: layout.py's change."""
        self.write_history(before, after, file)
        if file is None:
            remove_quietly(self.path(CURRENT))
        else:
            self.point_current_to(file)
        try:
            self.write_history(after)
        except OSError:
            pass  # committed: the pending history agrees with current.tflite
        if prune:
            keep = set(e["file"] for e in after) | set([file])
            for entry in os.listdir(self.models):
                if entry.endswith(".tflite") and entry not in keep:
                    remove_quietly(os.path.join(self.models, entry))

    def current_target(self):
        try:
            return os.path.basename(os.readlink(self.path(CURRENT)))
        except OSError:
            return None

    def point_current_to(self, file):
        tmp = self.path(".%s.%s" % (CURRENT, token()[:8]))
        try:
            os.symlink(os.path.join(MODELS, file), tmp)
            os.rename(tmp, self.path(CURRENT))
        except OSError:
            remove_quietly(tmp)
            raise

    def ensure_dirs(self):
        if not os.path.isdir(self.models):
            os.makedirs(self.models)

    def clean_leftovers(self, keep):
        """Partial uploads and temporary files of crashed runs (the lock holder's job)."""
        for entry in os.listdir(self.models):
            path = os.path.join(self.models, entry)
            if entry.startswith(UPLOAD_PREFIX) and path != keep:
                remove_quietly(path)
        for entry in os.listdir(self.workdir):
            if entry.startswith(TEMP_PREFIXES):
                remove_quietly(self.path(entry))

    def verified(self, path, sha):
        return os.path.isfile(path) and sha256_file(path) == sha


def query(store, sha):
    history = store.history()
    result = {"action": "query", "current": history[-1] if history else None}
    if sha:
        file = "%s.tflite" % sha[:16]
        last = history[-1] if history else None
        current = bool(last and last["sha256"] == sha and store.current_target() == file)
        have = current or store.verified(os.path.join(store.models, file), sha)
        result.update(
            is_current=current,
            needs_upload=not have,
            upload_path=os.path.join(store.models, ".upload-%s" % token()),
        )
    return result


def present(module, store, sha, name, upload, deployed_at):
    history = store.history()
    file = "%s.tflite" % sha[:16]
    target = os.path.join(store.models, file)
    previous = history[-1] if history else None
    if previous and previous["sha256"] == sha and store.current_target() == file:
        if upload and os.path.exists(upload):
            os.remove(upload)  # a rerun raced us; the model is current already
        return {"changed": False, "action": "unchanged", "current": previous, "previous": None}
    if upload and module.check_mode and not os.path.exists(upload):
        # --check: the copy task did not really upload; report what a real run would do
        return {"changed": True, "action": "uploaded", "current": None, "previous": previous}
    if upload:
        where = os.path.normpath(upload)
        if (
            os.path.dirname(where) != store.models
            or not os.path.basename(where).startswith(".upload-")
            or not os.path.isfile(where)
        ):
            module.fail_json(
                msg="No uploaded file at %s (expected it in %s)" % (upload, store.models)
            )
        remote = sha256_file(upload)
        if remote != sha:
            os.remove(upload)
            module.fail_json(
                msg="sha256 mismatch on the device after upload (controller %s, device %s); "
                "the deployed model is unchanged" % (sha[:16], remote[:16])
            )
        action = "uploaded"
    elif store.verified(target, sha):
        action = "switched"
    else:
        module.fail_json(msg="%s is not on the device and nothing was uploaded" % file)
    entry = {
        "sha256": sha,
        "name": name,
        "size": os.path.getsize(upload or target),
        "file": file,
        "deployed_at": deployed_at if deployed_at is not None else time.time(),
    }
    result = {"changed": True, "action": action, "current": entry, "previous": previous}
    if module.check_mode:
        return result
    store.clean_leftovers(keep=upload)
    if upload:
        os.rename(upload, target)
    store.commit(history, kept(history + [entry]), file)
    return result


def rollback(module, store):
    history = store.history()
    if len(history) < 2:
        module.fail_json(msg="Nothing to roll back to (%d version(s) deployed)" % len(history))
    bad, previous = history[-1], history[-2]
    if not os.path.isfile(os.path.join(store.models, previous["file"])):
        module.fail_json(msg="The previous model %s is gone from the device" % previous["file"])
    if not module.check_mode:
        store.clean_leftovers(keep=None)
        store.commit(history, history[:-1], previous["file"], prune=False)
    return {"changed": True, "action": "rolled back", "current": previous, "previous": bad}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            workdir=dict(type="str", required=True),
            state=dict(type="str", choices=["query", "present", "rollback"], default="present"),
            sha256=dict(type="str"),
            name=dict(type="str"),
            upload=dict(type="str"),
            deployed_at=dict(type="float"),
        ),
        required_if=[("state", "present", ("sha256", "name"))],
        supports_check_mode=True,
    )
    p = module.params
    sha = (p["sha256"] or "").lower()
    if sha and (len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha)):
        module.fail_json(msg="Invalid sha256=%r (expected 64 hex digits)" % p["sha256"])
    store = Store(p["workdir"])
    try:
        if p["state"] != "query" and not module.check_mode:
            store.lock()
        if p["state"] == "query":
            result = dict(query(store, sha), changed=False)
        elif p["state"] == "present":
            result = present(module, store, sha, p["name"], p["upload"], p["deployed_at"])
        else:
            result = rollback(module, store)
    except Busy as e:
        module.fail_json(msg="%s is busy: %s is changing it; try again later" % (store.workdir, e))
    except (KeyError, TypeError, ValueError) as e:
        module.fail_json(msg="Corrupt %s in %s: %s" % (HISTORY, store.workdir, e))
    except OSError as e:
        module.fail_json(msg="%s: %s" % (e.filename or store.workdir, e.strerror or e))
    result.update(
        workdir=store.workdir,
        current_path=store.path(CURRENT),
        python=sys.executable,
    )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
