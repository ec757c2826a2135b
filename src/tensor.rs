//! A minimal dense, row-major f32 tensor: a shape and a flat buffer. The model code only needs
//! contiguous storage and a few views; anything heavier (strides, broadcasting) is not wanted here.

use crate::error::{Error, Result};

/// Dense row-major tensor of f32.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl Tensor {
    /// Builds a tensor, checking that `data` has exactly as many elements as `shape` asks for.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        let n: usize = shape.iter().product();
        if n != data.len() {
            return Err(Error::Shape {
                context: "Tensor::new".into(),
                reason: format!(
                    "shape {shape:?} holds {n} elements, data has {}",
                    data.len()
                ),
            });
        }
        Ok(Tensor { shape, data })
    }

    /// A tensor of zeros.
    pub fn zeros(shape: Vec<usize>) -> Self {
        let n = shape.iter().product();
        Tensor {
            shape,
            data: vec![0.0; n],
        }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn data(&self) -> &[f32] {
        &self.data
    }

    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Size of the last dimension (1 for a scalar).
    pub fn last_dim(&self) -> usize {
        self.shape.last().copied().unwrap_or(1)
    }

    /// Rows when viewed as a matrix of `[len / last_dim, last_dim]`.
    pub fn rows(&self) -> usize {
        self.len().checked_div(self.last_dim()).unwrap_or(0)
    }

    /// Same data, new shape of the same element count.
    pub fn reshape(mut self, shape: Vec<usize>) -> Result<Self> {
        let n: usize = shape.iter().product();
        if n != self.data.len() {
            return Err(Error::Shape {
                context: "Tensor::reshape".into(),
                reason: format!("cannot reshape {:?} to {shape:?}", self.shape),
            });
        }
        self.shape = shape;
        Ok(self)
    }
}
