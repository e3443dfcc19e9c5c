"""streamgan's benchmarks: long measurements that print ratios against anchors measured in the
same run (the tests assert behaviour, these report speed, memory and image quality).

Run them from the checkout, with the installed streamgan (`make install`), as modules:

    .venv/bin/python -m bench.preprocess     # the preprocessing job vs gapcv and Pillow
    .venv/bin/python -m bench.seasons        # a new season with and without the last store
    .venv/bin/python -m bench.train          # the HDF5 stream vs in-memory tf.data
    .venv/bin/python -m bench.quality        # image quality per minute of training
    .venv/bin/python -m bench.conditioning   # conditional vs unconditional at equal time
    .venv/bin/python -m bench.warmstart      # a season warm-started from the last one

They import only `streamgan.*` and each other (`bench.*`); results go to bench/out/.
"""
