#!/usr/bin/python
# ruff: noqa: UP031, E402  (Ansible module layout; runs on device Pythons from 3.8)
"""Ansible module: edgesdk's device layout (verified switch, kept versions, rollback) on a device."""

# Runs on the device's Python (3.8 or newer, standard library only). The layout is exactly the
# one `edgesdk deploy` writes (edgesdk/devices/deploy.py), so both tools can be mixed:
# WORKDIR/models/<sha256[:16]>.tflite, WORKDIR/current.tflite a relative symlink to
# models/<file>, and WORKDIR/deployments.json with the last versions, oldest first.

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
FIELDS = ("sha256", "name", "size", "file", "deployed_at")


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

    def history(self):
        try:
            with open(self.path(HISTORY), "rb") as f:
                data = json.loads(f.read().decode("utf-8"))
        except OSError:
            return []
        entries = data["deployments"]
        for e in entries:
            if sorted(e) != sorted(FIELDS):
                raise ValueError("unexpected fields %s" % sorted(e))
        return entries

    def write_history(self, entries):
        tmp = self.path(".%s.%s" % (HISTORY, token()[:8]))
        payload = json.dumps({"deployments": entries}, indent=2).encode("utf-8")
        with open(tmp, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, self.path(HISTORY))

    def current_target(self):
        try:
            return os.path.basename(os.readlink(self.path(CURRENT)))
        except OSError:
            return None

    def point_current_to(self, file):
        tmp = self.path(".%s.%s" % (CURRENT, token()[:8]))
        os.symlink(os.path.join(MODELS, file), tmp)
        os.rename(tmp, self.path(CURRENT))

    def ensure_dirs(self):
        if not os.path.isdir(self.models):
            os.makedirs(self.models)

    def clean_partial_uploads(self, keep):
        for entry in os.listdir(self.models):
            path = os.path.join(self.models, entry)
            if entry.startswith(".upload-") and path != keep:
                os.remove(path)

    def prune(self, entries):
        """Keep the last KEEP_VERSIONS distinct versions; delete older files."""
        kept, seen = [], set()
        for e in reversed(entries):
            if e["sha256"] not in seen and len(seen) < KEEP_VERSIONS:
                seen.add(e["sha256"])
                kept.append(e)
        kept.reverse()
        keep_files = set(e["file"] for e in kept)
        for entry in os.listdir(self.models):
            if entry.endswith(".tflite") and entry not in keep_files:
                os.remove(os.path.join(self.models, entry))
        return kept

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
    store.ensure_dirs()
    store.clean_partial_uploads(keep=upload)
    if upload:
        os.rename(upload, target)
    store.point_current_to(file)
    store.write_history(store.prune(history + [entry]))
    return result


def rollback(module, store):
    history = store.history()
    if len(history) < 2:
        module.fail_json(msg="Nothing to roll back to (%d version(s) deployed)" % len(history))
    bad, previous = history[-1], history[-2]
    if not os.path.isfile(os.path.join(store.models, previous["file"])):
        module.fail_json(msg="The previous model %s is gone from the device" % previous["file"])
    if not module.check_mode:
        store.point_current_to(previous["file"])
        store.write_history(history[:-1])
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
        if p["state"] == "query":
            result = dict(query(store, sha), changed=False)
        elif p["state"] == "present":
            result = present(module, store, sha, p["name"], p["upload"], p["deployed_at"])
        else:
            result = rollback(module, store)
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
