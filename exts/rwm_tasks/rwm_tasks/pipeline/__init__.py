"""The RWM / RWM-U pipeline on top of the stages and the evaluation harness: the resumable end-to-end job
(:mod:`.run`), its report (:mod:`.report`), shipping results to ``pretrained/`` (:mod:`.ship`) and the demo on
them (:mod:`.demo`)."""
