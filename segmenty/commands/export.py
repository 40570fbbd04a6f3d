"""Export a trained model as one ONNX file that carries its mask names, thresholds and pattern, for onnxruntime."""

import os

from segmenty import cli

EPILOG = """needs: pip install -r requirements-onnx.txt

examples:
  ./export_segmenter.py save.keras save.onnx
  ./test_segmenter.py save.onnx photos/ scratch          # the model runs in onnxruntime
  python -c 'from segmenty import Segmenter; print(Segmenter.load("save.onnx").find("photo.jpg"))'"""


def main(argv=None, prog=None):
    """`segmenty export`, and export_segmenter.py: argv and prog as segmenty.commands describes."""
    p = cli.parser(__doc__, epilog=EPILOG, prog=prog)
    p.add_argument("model_path", metavar="MODEL", help="a .keras file written by train_segmenter.py")
    p.add_argument("out_path", metavar="OUT", help="the .onnx file to write (replaced if it exists)")
    args = p.parse_args(argv)
    cli.hide_gpus()  # the conversion is quick on the CPU, and the file is the same
    os.environ["KERAS_BACKEND"] = "tensorflow"  # Keras's converter there is the one requirements-onnx.txt pins
    cli.start_keras_quietly()
    from segmenty import model as models
    from segmenty.export import export
    info = export(args.model_path, args.out_path)
    print(f"wrote {args.out_path}: masks {', '.join(info['mask_names'])}, {info['image_size']}x{info['image_size']} "
          f"input (any batch size, any multiple of {models.input_multiple(info)})")

