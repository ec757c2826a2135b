//! Images in, model inputs out: decoding, timm's evaluation transform, ImageFolder data sets.
