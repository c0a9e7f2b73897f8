//! all-MiniLM-L6-v2 on the CPU: a 6-layer BERT encoder (hidden 384, 12 heads), mean pooling over
//! the tokens and L2 normalisation, as sentence-transformers runs it. The weights are read from
//! `model.safetensors`, the vocabulary from `vocab.txt`.

use std::collections::HashMap;
use std::path::Path;

use ndarray::{ArcArray1, ArcArray2, Array1, Array2, Axis, Slice};
use serde::Deserialize;

use crate::wordpiece::WordPiece;

pub const DIMENSIONS: usize = 384;
const HEADS: usize = 12;
const LAYERS: usize = 6;
/// sentence-transformers' `max_seq_length` for this model; longer texts are truncated (the
/// chunker keeps chunks below it).
pub const MAX_TOKENS: usize = 256;
const LAYER_NORM_EPS: f32 = 1e-12;

struct Linear {
    /// `[out, in]`, as stored.
    weight: ArcArray2<f32>,
    bias: ArcArray1<f32>,
}

impl Linear {
    fn forward(&self, x: &Array2<f32>) -> Array2<f32> {
        x.dot(&self.weight.t()) + &self.bias
    }
}

struct LayerNorm {
    weight: ArcArray1<f32>,
    bias: ArcArray1<f32>,
}

impl LayerNorm {
    fn forward(&self, mut x: Array2<f32>) -> Array2<f32> {
        for mut row in x.rows_mut() {
            let n = row.len() as f32;
            let mean = row.sum() / n;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
            let scale = 1.0 / (var + LAYER_NORM_EPS).sqrt();
            for ((v, w), b) in row.iter_mut().zip(&self.weight).zip(&self.bias) {
                *v = (*v - mean) * scale * w + b;
            }
        }
        x
    }
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// The model. Every tensor is a view of one shared buffer of all the weights (~90 MB), so that
/// dropping the model gives that memory back to the system in one piece.
pub struct MiniLm {
    tokenizer: WordPiece,
    word: ArcArray2<f32>,
    position: ArcArray2<f32>,
    token_type: ArcArray2<f32>,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
}

impl MiniLm {
    /// Loads `model.safetensors` and `vocab.txt` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let read = |name: &str| {
            std::fs::read(dir.join(name))
                .map_err(|err| format!("cannot read {}: {err}", dir.join(name).display()))
        };
        let vocab = String::from_utf8(read("vocab.txt")?)
            .map_err(|_| "vocab.txt is not UTF-8".to_owned())?;
        let tokenizer = WordPiece::from_vocab(&vocab)?;
        let weights = Weights::parse(read("model.safetensors")?)?;
        let linear = |prefix: &str| -> Result<Linear, String> {
            Ok(Linear {
                weight: weights.matrix(&format!("{prefix}.weight"))?,
                bias: weights.vector(&format!("{prefix}.bias"))?,
            })
        };
        let norm = |prefix: &str| -> Result<LayerNorm, String> {
            Ok(LayerNorm {
                weight: weights.vector(&format!("{prefix}.weight"))?,
                bias: weights.vector(&format!("{prefix}.bias"))?,
            })
        };
        let layers = (0..LAYERS)
            .map(|i| {
                let p = format!("encoder.layer.{i}");
                Ok(Layer {
                    query: linear(&format!("{p}.attention.self.query"))?,
                    key: linear(&format!("{p}.attention.self.key"))?,
                    value: linear(&format!("{p}.attention.self.value"))?,
                    attention_out: linear(&format!("{p}.attention.output.dense"))?,
                    attention_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                    intermediate: linear(&format!("{p}.intermediate.dense"))?,
                    output: linear(&format!("{p}.output.dense"))?,
                    output_norm: norm(&format!("{p}.output.LayerNorm"))?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let model = Self {
            tokenizer,
            word: weights.matrix("embeddings.word_embeddings.weight")?,
            position: weights.matrix("embeddings.position_embeddings.weight")?,
            token_type: weights.matrix("embeddings.token_type_embeddings.weight")?,
            embedding_norm: norm("embeddings.LayerNorm")?,
            layers,
        };
        if model.word.ncols() != DIMENSIONS || model.position.nrows() < MAX_TOKENS {
            return Err(format!(
                "{} is not all-MiniLM-L6-v2 ({DIMENSIONS} dimensions)",
                dir.display()
            ));
        }
        Ok(model)
    }

    /// Token ids of `text` as the model sees them (truncated to [`MAX_TOKENS`]).
    pub fn tokens(&self, text: &str) -> Vec<u32> {
        self.tokenizer.encode(text, MAX_TOKENS)
    }

    /// The normalised sentence embedding of `text`.
    pub fn embed(&self, text: &str) -> Vec<f32> {
        let ids = self.tokens(text);
        let n = ids.len();
        let mut x = Array2::<f32>::zeros((n, DIMENSIONS));
        for (i, &id) in ids.iter().enumerate() {
            let mut row = x.row_mut(i);
            row += &self.word.row(id as usize);
            row += &self.position.row(i);
            row += &self.token_type.row(0);
        }
        let mut x = self.embedding_norm.forward(x);
        for layer in &self.layers {
            x = layer.forward(x);
        }
        let mut pooled = x
            .mean_axis(Axis(0))
            .unwrap_or_else(|| Array1::zeros(DIMENSIONS));
        let norm = pooled.dot(&pooled).sqrt().max(1e-12);
        pooled /= norm;
        pooled.to_vec()
    }
}

impl Layer {
    fn forward(&self, x: Array2<f32>) -> Array2<f32> {
        let n = x.nrows();
        let head = DIMENSIONS / HEADS;
        let scale = 1.0 / (head as f32).sqrt();
        let q = self.query.forward(&x);
        let k = self.key.forward(&x);
        let v = self.value.forward(&x);
        let mut context = Array2::<f32>::zeros((n, DIMENSIONS));
        for h in 0..HEADS {
            let cols = Slice::from(h * head..(h + 1) * head);
            let mut scores = q
                .slice_axis(Axis(1), cols)
                .dot(&k.slice_axis(Axis(1), cols).t())
                * scale;
            for mut row in scores.rows_mut() {
                let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                row.mapv_inplace(|v| (v - max).exp());
                let sum = row.sum();
                row /= sum;
            }
            context
                .slice_axis_mut(Axis(1), cols)
                .assign(&scores.dot(&v.slice_axis(Axis(1), cols)));
        }
        let attended = self
            .attention_norm
            .forward(self.attention_out.forward(&context) + &x);
        let mut inner = self.intermediate.forward(&attended);
        inner.mapv_inplace(gelu);
        self.output_norm
            .forward(self.output.forward(&inner) + &attended)
    }
}

/// GELU with the exact error function, as BERT's `gelu`.
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x / std::f32::consts::SQRT_2))
}

/// The error function (Abramowitz & Stegun 7.1.26, absolute error below 1.5e-7), in f64.
fn erf(x: f32) -> f32 {
    let x = f64::from(x);
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    (sign * (1.0 - poly * (-x * x).exp())) as f32
}

/// The tensors of a safetensors file: an 8-byte little-endian header length, a JSON header of
/// `name → {dtype, shape, data_offsets}`, then the data.
///
/// The data is read as little-endian `f32`s into one buffer that every tensor of the model views;
/// a tensor of another type (the file's `position_ids`) is refused by name, never read.
struct Weights {
    floats: ArcArray1<f32>,
    tensors: HashMap<String, Tensor>,
}

#[derive(Deserialize)]
struct Tensor {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (usize, usize),
}

impl Weights {
    fn parse(bytes: Vec<u8>) -> Result<Self, String> {
        let bad = || "model.safetensors is damaged".to_owned();
        let len = bytes.get(..8).ok_or_else(bad)?;
        let len = u64::from_le_bytes(len.try_into().map_err(|_| bad())?);
        let data = usize::try_from(len)
            .ok()
            .and_then(|len| len.checked_add(8))
            .ok_or_else(bad)?;
        let header = bytes.get(8..data).ok_or_else(bad)?;
        let raw: HashMap<String, serde_json::Value> =
            serde_json::from_slice(header).map_err(|err| format!("{}: {err}", bad()))?;
        let tensors = raw
            .into_iter()
            .filter(|(name, _)| name != "__metadata__")
            .map(|(name, value)| {
                serde_json::from_value::<Tensor>(value)
                    .map(|t| (name, t))
                    .map_err(|err| format!("{}: {err}", bad()))
            })
            .collect::<Result<_, _>>()?;
        let floats = bytes[data..]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect::<Vec<_>>();
        Ok(Self {
            floats: ArcArray1::from_vec(floats),
            tensors,
        })
    }

    /// The shape of tensor `name` and its view of the buffer.
    fn floats(&self, name: &str) -> Result<(&[usize], ArcArray1<f32>), String> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| format!("model.safetensors has no tensor {name}"))?;
        if t.dtype != "F32" {
            return Err(format!("tensor {name} is {}, not F32", t.dtype));
        }
        let (start, end) = t.data_offsets;
        let size = t.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if start % 4 != 0
            || end % 4 != 0
            || end < start
            || end / 4 > self.floats.len()
            || Some((end - start) / 4) != size
        {
            return Err(format!("tensor {name} does not fit its place in the file"));
        }
        Ok((
            &t.shape,
            self.floats
                .clone()
                .slice_axis_move(Axis(0), Slice::from(start / 4..end / 4)),
        ))
    }

    fn matrix(&self, name: &str) -> Result<ArcArray2<f32>, String> {
        match self.floats(name)? {
            (&[rows, cols], data) => data
                .into_shape_with_order((rows, cols))
                .map_err(|err| format!("tensor {name}: {err}")),
            (shape, _) => Err(format!("tensor {name} has shape {shape:?}, not a matrix")),
        }
    }

    fn vector(&self, name: &str) -> Result<ArcArray1<f32>, String> {
        match self.floats(name)? {
            (&[_], data) => Ok(data),
            (shape, _) => Err(format!("tensor {name} has shape {shape:?}, not a vector")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        for (x, want) in [
            (0.0, 0.0),
            (0.5, 0.520_499_9),
            (1.0, 0.842_700_8),
            (-2.0, -0.995_322_3),
        ] {
            assert!((erf(x) - want).abs() < 1e-6, "erf({x})");
        }
    }
}
