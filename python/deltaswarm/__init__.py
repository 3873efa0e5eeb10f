"""deltaswarm for PyTorch: publish a trainer's state dict as the next version, follow versions
on a server and swap them into a live module in place. A thin layer over the deltaswarm CLI's
--json interface (the `deltaswarm` binary must be on PATH or passed as binary=...).

Trainer:
    deltaswarm.publish(model, bucket="/shared/bucket", model="llm", key="publisher.key")

Server:
    lock = threading.Lock()
    with deltaswarm.follow("/var/lib/deltaswarm/llm", lambda v, path: deltaswarm.load_into(net, path, lock=lock),
                           bucket="/shared/bucket", model="llm", trust="publisher.key.pub"):
        serve(...)      # each request under `with lock:`
"""
from .cli import DeltaswarmError
from .safetensors import SafetensorsError, SafetensorsFile
from .safetensors import load as load_file
from .safetensors import save as save_file
from .serving import Follower, LoadError, LoadReport, PreparedLoad, current_version, follow, load_into, prepare_load
from .trainer import Publisher, PublishResult, publish, publish_path

__all__ = [
    "DeltaswarmError", "Follower", "LoadError", "LoadReport", "PreparedLoad", "prepare_load", "Publisher", "PublishResult", "SafetensorsError",
    "SafetensorsFile", "current_version", "follow", "load_file", "load_into", "publish", "publish_path",
    "save_file",
]
