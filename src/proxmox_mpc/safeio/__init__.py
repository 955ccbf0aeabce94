"""Safe edges for files pmpc does not trust: writes that follow no symlink, bounded YAML and JSON.

Every file pmpc writes goes through `safeio.files`; every manifest, settings file and plan file it
reads is parsed through `safeio.untrusted`. This layer imports nothing of pmpc but `errors`.
"""
