"""ONNX files of trained models (export_segmenter.py), and running them with onnxruntime.

An exported model is one file, e.g. save.onnx, that needs neither TensorFlow nor Keras to run:
- the network, converted by Keras's own `model.export(path, format="onnx")` (on the TensorFlow
  backend Keras converts through tf2onnx), in float32 whatever precision it was trained in.
  Its input "image" is B x H x W x 3 float32, RGB 0..255, with B, H and W left open: any batch
  size, and any H and W that are multiples of 2 ** len(config["filters"]) (the network is fully
  convolutional, as the .keras model is). Its output is B x H x W x channels float32, the same
  array as the Keras model's: the masks' probabilities, then the page coordinates if it has them.
- metadata_props["segmenty"]: the .keras file's whole segmenty info (everything model.read_info
  returns: mask names, image size, config, thresholds, coverage, picture, page, ...) as JSON.

Both need the optional packages in requirements-onnx.txt (tf2onnx and onnx to export,
onnxruntime to run).
"""

import importlib.util
import json
import os
import warnings

import numpy as np

from segmenty.errors import InvalidArgument, SegmentyError
from segmenty.images import replacing

METADATA_KEY = "segmenty"
_INSTALL = "pip install -r requirements-onnx.txt"


def export(model_path, out_path):
    """Write a .keras model written by train_segmenter.py as one ONNX file that carries its info.

    Args:
        model_path: str, the .keras file.
        out_path: str, the .onnx file to write; replaced whole, never left half written.

    Returns:
        dict, the info written into the file's metadata (the model's segmenty info).
    """
    if os.path.isdir(out_path):
        raise InvalidArgument("out_path", str(out_path), "a file to write, not an existing folder")
    if not str(out_path).lower().endswith(".onnx"):  # Segmenter.load tells an exported model by it
        raise InvalidArgument("out_path", str(out_path), "a file name ending in .onnx")
    from segmenty import model as models
    info = models.read_info(model_path)  # a one-line error for a wrong file before Keras starts
    import keras
    # Keras converts through tf2onnx on TensorFlow, the converter requirements-onnx.txt pins
    # (on torch it would also fix every open dimension to 1).
    if keras.backend.backend() != "tensorflow":
        raise SegmentyError(f"exporting to ONNX runs on Keras's TensorFlow backend, not {keras.backend.backend()} "
                            "(set KERAS_BACKEND=tensorflow)")
    missing = [name for name in ("onnx", "tf2onnx") if importlib.util.find_spec(name) is None]
    if missing:
        raise SegmentyError(f"exporting to ONNX needs {' and '.join(missing)}: {_INSTALL}")
    net, info = models.load(model_path, compile=False)
    net = models.with_policy(net, info, "float32")  # Keras exports float32 models only
    signature = [keras.InputSpec(dtype="float32", shape=(None, None, None, 3), name="image")]
    with replacing(out_path) as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # Keras's numpy 2 patch of tf2onnx pokes np.object
            net.export(tmp, format="onnx", verbose=False, input_signature=signature)
        import onnx
        proto = onnx.load(tmp)
        for value in (*proto.graph.input, *proto.graph.output):  # tf2onnx calls the open sizes unk__668 ...
            for dim, name in zip(value.type.tensor_type.shape.dim, ("batch", "height", "width")):
                dim.dim_param = name
        entry = proto.metadata_props.add()
        entry.key, entry.value = METADATA_KEY, json.dumps(info)
        onnx.save(proto, tmp)
    return info


class OnnxPredictor:
    """An exported model behind a function of a batch of model inputs, on the CPU with onnxruntime.

    Attributes:
        info: dict, the model's segmenty info, from the file's metadata.
        batch_size: int, the batch size the caller fills its batches to.

    Args:
        path: str, an .onnx file written by export().
        batch_size: int, photos per forward pass at most (any size runs; the Segmenter sends
            the photos it has, not a padded batch: fixed_batches).
            Defaults to 8.
        threads: int, onnxruntime's threads within an operator; 0 for one per physical core.
            Defaults to 0.
    """

    fixed_batches = False  # any batch size runs at its own cost, without compiling again

    def __init__(self, path, batch_size=8, threads=0):
        if importlib.util.find_spec("onnxruntime") is None:
            raise SegmentyError(f"running an .onnx model needs onnxruntime: {_INSTALL}")
        import onnxruntime
        if not os.path.isfile(path):
            raise SegmentyError(f"no model at {path}")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        # Idle threads sleep instead of spinning: spinning ones take the cores from decoding and
        # posing between batches, and from anything else running (lite, batch 1, 2 busy cores:
        # 13 ms a batch with spinning, 6.5 without). ORT_ENABLE_ALL's blocked layouts: 1.15x
        # faster than ORT_ENABLE_EXTENDED.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's errors have no public base class
            first_line = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise SegmentyError(f"{path} is not an ONNX model ({type(e).__name__}: {first_line})") from None
        metadata = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in metadata:
            raise SegmentyError(f"{path} is an ONNX model but not a segmenty model (its metadata has no "
                                f"{METADATA_KEY!r} entry; make one with export_segmenter.py)")
        self.info = json.loads(metadata[METADATA_KEY])
        self.batch_size = batch_size
        self._input = self.session.get_inputs()[0].name

    def __call__(self, batch):
        """The model's output for a batch B x H x W x 3 (float32 RGB 0..255), as a float32 array."""
        return self.session.run(None, {self._input: np.asarray(batch, np.float32)})[0]
