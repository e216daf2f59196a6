"""EOTDL's EuroSAT benchmark: the reference accuracies the few-label table is compared with."""

#: EOTDL's EuroSAT benchmark (ResNet18, RGB, 20 epochs): accuracy (%) by method and labels (%).
EOTDL_EUROSAT = {
    ("scratch", 1): 11.6,
    ("ssl_probe", 1): 58.7,
    ("ssl_finetune", 1): 76.9,
    ("ssl_probe", 100): 83.4,
    ("ssl_finetune", 100): 93.2,
}
EOTDL_EUROSAT_SOURCE = (
    "EOTDL use case A, self-supervised pre-training evaluated on EuroSAT (ResNet18, RGB, "
    "20 epochs), as quoted in the course's issue #10"
)
