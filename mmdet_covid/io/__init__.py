"""Readers and writers: the bottom layer of the package.

CT slices and volumes from the formats they are published in (:mod:`.ct_io`,
:mod:`.dicom_series`, :mod:`.nifti_volume`, :mod:`.image_folder`, one entry point in
:mod:`.scan_reader`, all giving a :class:`~.ct_volume.CTVolume`), and files and folders
written whole or not at all (:mod:`.atomic_write`, :mod:`.output_folder`); the scalars
that mmengine logged for a run (:mod:`.scalars_log`).

Everything else in ``mmdet_covid`` may import from here; nothing here imports from the
rest of ``mmdet_covid`` (``tests/test_imports.py`` checks it), so that a reader can be
used, and tested, without the models, the registries or the engine.
"""
