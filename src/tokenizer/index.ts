/** Tokenizer and chat templates. */
export { Tokenizer, type EncodeOptions, type DecodeOptions, type ApplyChatTemplateOptions } from './tokenizer.js';
export { ChatTemplate, type ChatMessage, type ChatTemplateOptions } from './chat-template.js';
export { writeTokenizerFiles, bundledTokenizerDir, TOKENIZER_FILES } from './files.js';
