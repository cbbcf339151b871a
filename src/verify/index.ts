// Proof for every image: the file decodes and is a real picture (image.ts), and it is the picture the page showed (compare.ts).
export * from './image.js';
export * from './compare.js';
export * from './aspect.js';
