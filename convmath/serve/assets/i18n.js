// The page's words in two languages: one strings table per language, and the
// switch between them. English and Simplified Chinese; the Chinese uses the
// terms of the article's Chinese translation (卷积, 池化, 全连接层, 填充,
// 步幅, 前向传播, 反向传播, 激活函数, 滤波器, 特征图, 批量归一化, 梯度下降...).
//
// t(key, values) gives the current language's text, {name} replaced by
// values.name. Static labels of index.html carry data-i18n="key" (their
// text), data-i18n-aria-label, data-i18n-title or data-i18n-placeholder;
// applyStatic() fills them. Views that build their own text call t() and
// are re-rendered when the language changes (onLanguageChange).
// Whatever another part of the page adds, it adds to BOTH tables.

const STORAGE_KEY = "convmath.language";
export const LANGUAGES = { en: "English", zh: "中文" };

const en = {
  "page.title": "convmath serve: see the network compute",
  "page.titleModel": "convmath serve: {title}",
  "brand.tagline": "see the network compute",
  "language.label": "Language",
  "model.loading": "loading the model…",
  "model.title": "{title} · input {shape} · {classes} classes",
  "status.loading": "Loading…",
  "status.ready": "Ready.",
  "status.nowServing": "Now serving {title}.",
  "status.sampleSays": "Test image: the model says {prediction}.",
  "status.drawingSays": "Drawing: the model says {prediction}.",
  "status.explained": "{layer} at [{position}] explained.",
  "status.backward": "Back propagation for target class {name}: J = {loss}.",
  "hint.pick": "Click a value of a map (or a probability bar) to see the arithmetic behind it.",

  "input.heading": "Input",
  "input.pad": "drawing pad: draw a digit with the mouse, a pen or a finger",
  "input.draw": "draw a digit",
  "input.clear": "Clear",
  "input.preview": "the input the model sees",
  "input.sees": "what the model sees",
  "input.samples": "or a real test image",
  "input.samplesGroup": "test images",
  "input.sample": "test image {index}, label {label}",
  "input.drawing": "your drawing, as the model sees it",

  "prediction.heading": "Prediction",
  "prediction.list": "probability of each class",
  "prediction.hint": "Click a bar to see the softmax that made it.",
  "prediction.caption": "probability {p}; the top: {top}",
  "prediction.barTitle": "p({name}) = {p}: click to see the softmax",
  "prediction.barLabel": "class {name}: probability {p}; show the softmax",

  "backward.heading": "Back propagation",
  "backward.target": "target class",
  "backward.predicted": "the predicted class",
  "backward.class": "class {name}",
  "backward.hint":
    "The gradient of J with respect to every layer's output is drawn under its maps in the overview: blue where J falls as the value grows, red where it rises.",
  "backward.lossNote": "J = −log p({name}) for target class {name}",
  "backward.dZ": "The gradient at the output: softmax minus the one-hot Q of the target",
  "backward.numbers": "the numbers",
  "backward.bars": "the gradient at the output, per class: {values}",
  "backward.filterHint": "This model has no CONV layer.",
  "backward.rule": "with α = {alpha}",
  "backward.channel": "input channel c′ = {c}",
  "backward.filterOf": "Filter {index} of {layer}: {shape}, one row per input channel c′.",
  "backward.noBias": "This layer has no bias (the β of batch normalisation takes its place): b stays 0.",
  "backward.filterTitle": "filter c, 0 to {max}",
  "backward.new": "new",

  "training.heading": "Live training",
  "training.epochs": "epochs",
  "training.start": "Start",
  "training.pause": "Pause",
  "training.resume": "Resume",
  "training.stop": "Stop",
  "training.serve": "Use this model",
  "training.curve": "training loss every few steps, dev loss and dev accuracy per epoch",
  "index.label": "layers",
  "training.trainLoss": "train loss",
  "training.devLoss": "dev loss",
  "training.devAccuracyAxis": "dev accuracy (right axis)",
  "training.devAccuracy": "dev accuracy",
  "training.axisEpoch": "epoch",
  "training.axisLoss": "loss J",
  "training.empty": "no epoch finished yet",
  "training.state": "state: {state}",
  "training.epoch": "epoch {epoch}/{epochs}",
  "training.step": "step {step}/{steps}",
  "training.in": "in {dir}",
  "training.lastAccuracy": "dev accuracy {value}",
  "training.failed": "training: {error}",
  "training.filters": "the filters W of the first CONV layer: {n} filters of {shape}",
  "training.filterCell": "filter {c}",
  "training.filterChannel": "filter {c}, input channel {k}",
  "state.idle": "idle",
  "state.running": "running",
  "state.paused": "paused",
  "state.stopping": "stopping",
  "state.stopped": "stopped",
  "state.finished": "finished",
  "state.failed": "failed",

  "overview.heading": "Every layer, every channel",
  "overview.hint":
    "Each layer's maps share one colour scale (its range beside them). Click a value of a layer marked “click a value” to see how it was computed. The article's notation: Z before the activation ψ, A after it, l the layer's number (the input is A^[0]).",
  "overview.parameters": "{n} parameters",
  "overview.clickValue": "click a value",
  "overview.outputShape": "output shape",
  "overview.backward": "back propagation",
  "overview.text": "as convmath explain prints it",
  "overview.block.ResidualBlock": "residual block",
  "overview.block.InceptionModule": "Inception module",
  "overview.block.SqueezeExcitation": "squeeze and excitation",
  "overview.block.InvertedResidual": "inverted residual",
  "overview.branch.main": "main path",
  "overview.branch.main.note": "the block's layers: z[l+2]",
  "overview.branch.shortcut": "shortcut",
  "overview.branch.shortcut.note": "a[l] carried past the main path",
  "overview.branch.add": "add",
  "overview.branch.add.note": "main path + shortcut (then ReLU in a ResNet block)",
  "overview.branch.1x1": "1x1 branch",
  "overview.branch.1x1.note": "1x1 convolution",
  "overview.branch.3x3": "3x3 branch",
  "overview.branch.3x3.note": "1x1 reduction, then 3x3 convolution",
  "overview.branch.5x5": "5x5 branch",
  "overview.branch.5x5.note": "1x1 reduction, then 5x5 convolution",
  "overview.branch.pool": "pool branch",
  "overview.branch.pool.note": "3x3 max pooling, then 1x1 projection",
  "overview.branch.concat": "concatenate",
  "overview.branch.concat.note": "the branches stacked along the channels",
  "overview.branch.squeeze": "squeeze and excite",
  "overview.branch.squeeze.note": "mean of each channel, 1x1 down, 1x1 up, gate s in (0, 1)",
  "overview.branch.scale": "scale",
  "overview.branch.scale.note": "each channel of the input times its gate s_c",

  "maps.Z": "the output before the activation ψ",
  "maps.Ztilde": "batch-normalised, before the activation ψ",
  "maps.A": "the activations (feature maps)",
  "maps.gradient": "the gradient ∂J/∂ of this output",
  "maps.values": "{n} values",
  "maps.channels": "{n} channels of {h} × {w}",
  "maps.channel": "c = {c}",
  "maps.scale": "colour scale: {lo} to {hi}",
  "maps.cell": "{kind}, channel {c}",
  "maps.cellPick": "{kind}, channel {c}: click a value, or press Enter and the arrow keys, to see how it was computed",
  "maps.kind.activation": "map",
  "maps.kind.gradient": "gradient",

  "formula.heading": "The number behind a number",
  "formula.at": "at",
  "formula.article": "the article counts from 1: x = {x}, y = {y}, c = {c}",
  "formula.value": "value computed by the forward pass: ",
  "formula.also": "Also",
  "formula.numbers": "The numbers",
  "formula.convNote":
    "The {f} window of the input (padding greyed), times the filter, element by element; every product is summed. One line per input channel c′.",
  "formula.channelSum": "input channel c′ = {c}: Σ products = ",
  "formula.window": "window",
  "formula.filter": "filter",
  "formula.products": "products",
  "formula.sumProducts": "Σ of all products",
  "formula.plusBias": "+ b",
  "formula.maxNote": "The largest value of the window, of this channel only.",
  "formula.max": "max",
  "formula.meanNote": "The mean of the window, of this channel only.",
  "formula.mean": "mean of {n} values",
  "formula.denseNote": "Every input times its weight, plus the bias, over the {n} inputs; the {shown} largest products:",
  "formula.others": "+ the other {n} products",
  "formula.bnNote": "Normalised with the running mean μ and σ = √(running variance + ε) (eval mode), then scaled by γ and shifted by β.",
  "formula.runningMean": "μ (running mean)",
  "formula.lnNote": "Normalised with the mean μ and σ = √(variance + ε) of this position's {n} channels (in training and in eval mode alike), then scaled by γ and shifted by β.",
  "formula.positionMean": "μ (mean over the channels)",
  "formula.residualNote": "The main path's z[l+2] plus the shortcut's a[l], then ReLU.",
  "formula.mainPath": "z[l+2] (main path)",
  "formula.shortcut": "+ shortcut",
  "formula.function": "function",
  "formula.softmaxNote": "The largest z (max z = {shift}) is taken off before exp, so no exp overflows.",
  "formula.class": "class",
  "formula.noActivation": "No activation follows this layer directly.",
  "formula.then": "then ",
  "formula.activation": "activation",

  "filter.heading": "One step of gradient descent",
  "filter.layer": "CONV layer",
  "filter.index": "filter",
  "filter.rate": "learning rate α",

  "kind.conv": "convolution",
  "kind.max": "max pooling",
  "kind.average": "average pooling",
  "kind.dense": "fully connected",
  "kind.batch_norm": "batch normalisation",
  "kind.layer_norm": "layer normalisation",
  "kind.activation": "activation",
  "kind.softmax": "softmax",
  "kind.residual_add": "residual add",
  "kind.concat": "concatenation",
  "kind.elementwise": "values moved",
  "grid.padding": "zero padding",
  "field.stride": "stride s",
  "field.padding": "padding p (top, left)",
  "field.source": "read from",
  "field.branch": "branch",
  "field.branch_row": "its last layer",
  "field.channel": "channel",
  "formula.arrayOf": "array of shape [{shape}]",
};

const zh = {
  "page.title": "convmath serve：看网络如何计算",
  "page.titleModel": "convmath serve：{title}",
  "brand.tagline": "看网络如何计算",
  "language.label": "语言",
  "model.loading": "正在加载模型…",
  "model.title": "{title} · 输入 {shape} · {classes} 个类别",
  "status.loading": "加载中…",
  "status.ready": "就绪。",
  "status.nowServing": "现在使用的模型：{title}。",
  "status.sampleSays": "测试图像：模型预测为 {prediction}。",
  "status.drawingSays": "手写图像：模型预测为 {prediction}。",
  "status.explained": "已解释 {layer} 在 [{position}] 处的值。",
  "status.backward": "目标类别 {name} 的反向传播：J = {loss}。",
  "hint.pick": "点击特征图中的任一值（或概率条），即可看到它背后的计算。",

  "input.heading": "输入",
  "input.pad": "画板：用鼠标、笔或手指写一个数字",
  "input.draw": "写一个数字",
  "input.clear": "清除",
  "input.preview": "模型看到的输入",
  "input.sees": "模型看到的输入",
  "input.samples": "或选一张真实的测试图像",
  "input.samplesGroup": "测试图像",
  "input.sample": "测试图像 {index}，标签 {label}",
  "input.drawing": "你写的数字，模型看到的样子",

  "prediction.heading": "预测",
  "prediction.list": "每个类别的概率",
  "prediction.hint": "点击概率条，查看得出它的 softmax 计算。",
  "prediction.caption": "概率 {p}；前几名：{top}",
  "prediction.barTitle": "p({name}) = {p}：点击查看 softmax",
  "prediction.barLabel": "类别 {name}：概率 {p}；查看 softmax",

  "backward.heading": "反向传播",
  "backward.target": "目标类别",
  "backward.predicted": "预测的类别",
  "backward.class": "类别 {name}",
  "backward.hint": "损失 J 对每一层输出的梯度画在总览中该层特征图的下方：蓝色表示该值增大时 J 减小，红色表示 J 增大。",
  "backward.lossNote": "目标类别 {name} 的损失：J = −log p({name})",
  "backward.dZ": "输出处的梯度：softmax 减去目标类别的独热向量 Q",
  "backward.numbers": "具体数值",
  "backward.bars": "输出处每个类别的梯度：{values}",
  "backward.filterHint": "这个模型没有卷积层。",
  "backward.rule": "其中 α = {alpha}",
  "backward.channel": "输入通道 c′ = {c}",
  "backward.filterOf": "{layer} 的第 {index} 个滤波器：{shape}，每个输入通道 c′ 一行。",
  "backward.noBias": "这一层没有偏置（由批量归一化的 β 代替）：b 保持为 0。",
  "backward.filterTitle": "滤波器 c，0 到 {max}",
  "backward.new": "更新后",

  "training.heading": "实时训练",
  "training.epochs": "训练轮数",
  "training.start": "开始",
  "training.pause": "暂停",
  "training.resume": "继续",
  "training.stop": "停止",
  "training.serve": "使用这个模型",
  "training.curve": "每隔几步的训练集损失，以及每一轮的开发集损失和开发集准确率",
  "index.label": "各层",
  "training.trainLoss": "训练集损失",
  "training.devLoss": "开发集损失",
  "training.devAccuracyAxis": "开发集准确率（右轴）",
  "training.devAccuracy": "开发集准确率",
  "training.axisEpoch": "轮",
  "training.axisLoss": "损失 J",
  "training.empty": "还没有完成任何一轮",
  "training.state": "状态：{state}",
  "training.epoch": "第 {epoch}/{epochs} 轮",
  "training.step": "第 {step}/{steps} 步",
  "training.in": "保存在 {dir}",
  "training.lastAccuracy": "开发集准确率 {value}",
  "training.failed": "训练出错：{error}",
  "training.filters": "第一个卷积层的滤波器 W：{n} 个 {shape} 的滤波器",
  "training.filterCell": "滤波器 {c}",
  "training.filterChannel": "滤波器 {c}，输入通道 {k}",
  "state.idle": "空闲",
  "state.running": "运行中",
  "state.paused": "已暂停",
  "state.stopping": "正在停止",
  "state.stopped": "已停止",
  "state.finished": "已完成",
  "state.failed": "失败",

  "overview.heading": "每一层，每一个通道",
  "overview.hint":
    "同一层的特征图共用一个颜色刻度（范围标在旁边）。在标有“点击一个值”的层中点击一个值，即可看到它是如何算出来的。文中的记号：Z 是激活函数 ψ 之前的值，A 是之后的值，l 是层的编号（输入是 A^[0]）。",
  "overview.parameters": "{n} 个参数",
  "overview.clickValue": "点击一个值",
  "overview.outputShape": "输出形状",
  "overview.backward": "反向传播",
  "overview.text": "convmath explain 打印的文字（英文）",
  "overview.block.ResidualBlock": "残差块",
  "overview.block.InceptionModule": "Inception 模块",
  "overview.block.SqueezeExcitation": "挤压与激励（SE）模块",
  "overview.block.InvertedResidual": "倒残差块",
  "overview.branch.main": "主路径",
  "overview.branch.main.note": "块内的各层：z[l+2]",
  "overview.branch.shortcut": "捷径连接",
  "overview.branch.shortcut.note": "a[l] 越过主路径直接传过去",
  "overview.branch.add": "相加",
  "overview.branch.add.note": "主路径 + 捷径（ResNet 块中随后再做 ReLU）",
  "overview.branch.1x1": "1x1 分支",
  "overview.branch.1x1.note": "1x1 卷积",
  "overview.branch.3x3": "3x3 分支",
  "overview.branch.3x3.note": "先 1x1 降维，再 3x3 卷积",
  "overview.branch.5x5": "5x5 分支",
  "overview.branch.5x5.note": "先 1x1 降维，再 5x5 卷积",
  "overview.branch.pool": "池化分支",
  "overview.branch.pool.note": "3x3 最大池化，再 1x1 投影",
  "overview.branch.concat": "拼接",
  "overview.branch.concat.note": "各分支沿通道方向拼接",
  "overview.branch.squeeze": "挤压与激励",
  "overview.branch.squeeze.note": "每个通道取平均，1x1 降维，1x1 升维，得到门控 s ∈ (0, 1)",
  "overview.branch.scale": "缩放",
  "overview.branch.scale.note": "输入的每个通道乘以它的门控 s_c",

  "maps.Z": "激活函数 ψ 之前的输出",
  "maps.Ztilde": "批量归一化之后、激活函数 ψ 之前",
  "maps.A": "激活值（特征图）",
  "maps.gradient": "损失 J 对这个输出的梯度 ∂J/∂",
  "maps.values": "{n} 个值",
  "maps.channels": "{n} 个 {h} × {w} 的通道",
  "maps.channel": "c = {c}",
  "maps.scale": "颜色刻度：{lo} 到 {hi}",
  "maps.cell": "{kind}，通道 {c}",
  "maps.cellPick": "{kind}，通道 {c}：点击一个值（或按回车键和方向键）查看它是如何算出来的",
  "maps.kind.activation": "特征图",
  "maps.kind.gradient": "梯度",

  "formula.heading": "数字背后的计算",
  "formula.at": "位于",
  "formula.article": "文中下标从 1 开始：x = {x}，y = {y}，c = {c}",
  "formula.value": "前向传播算出的值：",
  "formula.also": "其他",
  "formula.numbers": "数值",
  "formula.convNote": "输入中 {f} 的窗口（灰色为填充），与滤波器逐元素相乘，再把所有乘积相加。每个输入通道 c′ 一行。",
  "formula.channelSum": "输入通道 c′ = {c}：乘积之和 Σ = ",
  "formula.window": "窗口",
  "formula.filter": "滤波器",
  "formula.products": "乘积",
  "formula.sumProducts": "所有乘积之和 Σ",
  "formula.plusBias": "+ 偏置 b",
  "formula.maxNote": "窗口中的最大值，只看这一个通道。",
  "formula.max": "最大值",
  "formula.meanNote": "窗口的平均值，只看这一个通道。",
  "formula.mean": "{n} 个值的平均",
  "formula.denseNote": "{n} 个输入各乘以其权重再加上偏置；最大的 {shown} 个乘积：",
  "formula.others": "+ 其余 {n} 个乘积",
  "formula.bnNote": "用滑动平均 μ 和 σ = √(滑动方差 + ε) 归一化（推理模式），再乘以 γ、加上 β。",
  "formula.runningMean": "μ（滑动平均）",
  "formula.lnNote": "用该位置 {n} 个通道的均值 μ 和 σ = √(方差 + ε) 归一化（训练与推理模式相同），再乘以 γ、加上 β。",
  "formula.positionMean": "μ（各通道的均值）",
  "formula.residualNote": "主路径的 z[l+2] 加上捷径的 a[l]，然后 ReLU。",
  "formula.mainPath": "z[l+2]（主路径）",
  "formula.shortcut": "+ 捷径",
  "formula.function": "函数",
  "formula.softmaxNote": "取 exp 之前先减去最大的 z（max z = {shift}），避免溢出。",
  "formula.class": "类别",
  "formula.noActivation": "这一层之后没有直接跟着激活函数。",
  "formula.then": "然后 ",
  "formula.activation": "激活函数",

  "filter.heading": "一步梯度下降",
  "filter.layer": "卷积层",
  "filter.index": "滤波器",
  "filter.rate": "学习率 α",

  "kind.conv": "卷积",
  "kind.max": "最大池化",
  "kind.average": "平均池化",
  "kind.dense": "全连接层",
  "kind.batch_norm": "批量归一化",
  "kind.layer_norm": "层归一化",
  "kind.activation": "激活函数",
  "kind.softmax": "softmax",
  "kind.residual_add": "残差相加",
  "kind.concat": "拼接",
  "kind.elementwise": "值的重排",
  "grid.padding": "零填充",
  "field.stride": "步幅 s",
  "field.padding": "填充 p（上，左）",
  "field.source": "取自",
  "field.branch": "分支",
  "field.branch_row": "分支的最后一层",
  "field.channel": "通道",
  "formula.arrayOf": "形状为 [{shape}] 的数组",
};

// The overview graph's, the layer index's and live training's words, per
// language: a value is a string or a function of the numbers it states
// (graph.js, layerindex.js, training.js, curve.js read STRINGS.key).
const PARTS = {
  en: {
  // the overview (graph.js)
  overviewHeading: "The network at a glance",
  overviewHint:
    "Each column is a layer (a CONV with its BN and ReLU share one), its channels as small maps; " +
    "click a value to see how it was computed, a column's name to open its details.",
  collapseBlocks: "Collapse the blocks",
  expandBlocks: "Expand the blocks",
  input: "input",
  prediction: "prediction",
  moreChannels: (n) => `+${n}`,
  channelCount: (n) => `${n} channels`,
  openDetails: (rows) => `${rows.join(" → ")}: open the details`,
  columnRange: (rows, lo, hi) => `${rows.join(" → ")}: ${lo} to ${hi}`,
  channelsOf: (n_C, n_H, n_W) => `${n_H}×${n_W}×${n_C}`,
  valuesOf: (n) => `${n} values`,
  blockKinds: {
    ResidualBlock: "residual block",
    InceptionModule: "Inception module",
    SqueezeExcitation: "squeeze and excitation",
    InvertedResidual: "inverted residual",
  },
  identityShortcut: "shortcut a[l]",
  scaledInput: "A_prev, scaled",
  openBlock: (name) => `${name}: click to expand`,
  closeBlock: (name) => `${name}: click to collapse`,
  pickConv: (layer, position, source, top, left, f_H, f_W, c) =>
    `${layer}[${position.join(", ")}] = the ${f_H}×${f_W} window of ${source} at rows ` +
    `${top}..${top + f_H - 1}, columns ${left}..${left + f_W - 1} (outlined), times filter W[:, :, :, ${c}]:`,
  pickPool: (layer, position, source, top, left, f_H, f_W) =>
    `${layer}[${position.join(", ")}] pools the ${f_H}×${f_W} window of ${source} at rows ` +
    `${top}..${top + f_H - 1}, columns ${left}..${left + f_W - 1} (outlined).`,
  pickDense: (layer, position, source) => `${layer}[${position.join(", ")}] reads every value of ${source}.`,
  pickSame: (layer, position, source) => `${layer}[${position.join(", ")}] reads ${source} at the same place.`,
  pickThumb: (layer, c) => `${layer}, channel ${c}: click a value, or press Enter and the arrow keys, to see how it was computed; Page Up and Page Down change the channel`,
  pickVector: (layer) => `${layer}: click a value, or press Enter and the arrow keys, to see how it was computed`,
  filterCaption: (c, k) => `W[:, :, ${k}, ${c}]`,

  // the layer index (layerindex.js)
  indexLabel: "Layers",
  indexOverview: "overview",
  indexInput: "input",
  indexTraining: "training",

  // live training (training.js, curve.js)
  trains: (model, dataset) => `Trains ${model} on ${dataset} from fresh weights`,
  trainsServed: "the served model's architecture and dataset",
  trainsOther: (note) => `not the served model: ${note}`,
  speed: (ips) => `${Math.round(ips).toLocaleString("en")} img/s`,
  curveStepLoss: "train loss, every few steps",
  curveTrainLoss: "train loss per epoch",
  curveDevLoss: "dev loss",
  curveDevAccuracy: "dev accuracy (right axis)",
  curveEmpty: "no step done yet",
  curveWhy: (smoothing, floor, augment) =>
    "The train loss is J as trained" +
    (smoothing ? ` with label smoothing ${smoothing} (even a perfect answer costs J = ${floor.toFixed(2)})` : "") +
    (augment && augment !== "none" ? ` on augmented images ('${augment}')` : "") +
    ", averaged over the last steps while the weights still move; the dev loss is plain J on held-out" +
    " images, measured at each epoch's end. So the train curve may lie above the dev curve.",
  epochAxis: "epoch",
  lossAxis: "loss J",
  },
  zh: {
  // the overview (graph.js)
  overviewHeading: "网络总览",
  overviewHint:
    "每一列是一层（卷积层与其批量归一化、ReLU 共用一列），它的各个通道画成小特征图；" +
    "点击一个值查看它是如何算出来的，点击列名打开这一层的详细信息。",
  collapseBlocks: "折叠各个块",
  expandBlocks: "展开各个块",
  input: "输入",
  prediction: "预测",
  moreChannels: (n) => `+${n}`,
  channelCount: (n) => `${n} 个通道`,
  openDetails: (rows) => `${rows.join(" → ")}：打开详细信息`,
  columnRange: (rows, lo, hi) => `${rows.join(" → ")}：${lo} 到 ${hi}`,
  channelsOf: (n_C, n_H, n_W) => `${n_H}×${n_W}×${n_C}`,
  valuesOf: (n) => `${n} 个值`,
  blockKinds: {
    ResidualBlock: "残差块",
    InceptionModule: "Inception 模块",
    SqueezeExcitation: "挤压与激励（SE）模块",
    InvertedResidual: "倒残差块",
  },
  identityShortcut: "捷径 a[l]",
  scaledInput: "缩放后的 A_prev",
  openBlock: (name) => `${name}：点击展开`,
  closeBlock: (name) => `${name}：点击折叠`,
  pickConv: (layer, position, source, top, left, f_H, f_W, c) =>
    `${layer}[${position.join(", ")}] = ${source} 中第 ${top}..${top + f_H - 1} 行、` +
    `第 ${left}..${left + f_W - 1} 列的 ${f_H}×${f_W} 窗口（已框出），乘以滤波器 W[:, :, :, ${c}]：`,
  pickPool: (layer, position, source, top, left, f_H, f_W) =>
    `${layer}[${position.join(", ")}] 对 ${source} 中第 ${top}..${top + f_H - 1} 行、` +
    `第 ${left}..${left + f_W - 1} 列的 ${f_H}×${f_W} 窗口（已框出）做池化。`,
  pickDense: (layer, position, source) => `${layer}[${position.join(", ")}] 读取 ${source} 的每一个值。`,
  pickSame: (layer, position, source) => `${layer}[${position.join(", ")}] 读取 ${source} 中同一位置的值。`,
  pickThumb: (layer, c) => `${layer}，通道 ${c}：点击一个值（或按回车键和方向键）查看它是如何算出来的；上翻页键和下翻页键切换通道`,
  pickVector: (layer) => `${layer}：点击一个值（或按回车键和方向键）查看它是如何算出来的`,
  filterCaption: (c, k) => `W[:, :, ${k}, ${c}]`,

  // the layer index (layerindex.js)
  indexLabel: "各层",
  indexOverview: "总览",
  indexInput: "输入",
  indexTraining: "训练",

  // live training (training.js, curve.js)
  trains: (model, dataset) => `从随机初始化的权重开始，在 ${dataset} 上训练 ${model}`,
  trainsServed: "与当前模型相同的结构和数据集",
  trainsOther: (note) => `不是当前使用的模型：${note}`,
  speed: (ips) => `每秒 ${Math.round(ips).toLocaleString("en")} 张图像`,
  curveStepLoss: "训练集损失（每隔几步）",
  curveTrainLoss: "每一轮的训练集损失",
  curveDevLoss: "开发集损失",
  curveDevAccuracy: "开发集准确率（右轴）",
  curveEmpty: "还没有完成任何一步",
  curveWhy: (smoothing, floor, augment) =>
    "训练集损失是训练时的 J" +
    (smoothing ? `，使用了标签平滑 ${smoothing}（即使完全正确的预测也有 J = ${floor.toFixed(2)}）` : "") +
    (augment && augment !== "none" ? `，在数据增强（'${augment}'）后的图像上计算` : "") +
    "，是最近几步的平均值，而这期间权重仍在变化；开发集损失是每一轮结束时在留出的图像上算出的普通 J。" +
    "所以训练集曲线可能高于开发集曲线。",
  epochAxis: "轮",
  lossAxis: "损失 J",
  },
};

const TABLES = { en, zh };

// STRINGS.key: the part's words in the language chosen now (English where missing).
export const STRINGS = new Proxy(
  {},
  { get: (_, key) => PARTS[current][key] ?? PARTS.en[key] },
);

let current = chosen();
const listeners = [];

// The language stored from an earlier visit, else the browser's, else English.
function chosen() {
  let stored = null;
  try {
    stored = window.localStorage.getItem(STORAGE_KEY);
  } catch {
    stored = null; // storage refused (a private window): the browser's language
  }
  if (stored && stored in TABLES) return stored;
  const browser = (navigator.language || "en").toLowerCase();
  return browser.startsWith("zh") ? "zh" : "en";
}

export function language() {
  return current;
}

export function t(key, values = {}) {
  const text = TABLES[current][key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

export function hasString(key) {
  return key in en;
}

export function setLanguage(code) {
  if (!(code in TABLES) || code === current) return;
  current = code;
  try {
    window.localStorage.setItem(STORAGE_KEY, code);
  } catch {
    // not remembered, still switched
  }
  applyStatic();
  for (const listener of listeners) listener(code);
}

export function onLanguageChange(listener) {
  listeners.push(listener);
}

const ATTRIBUTES = ["aria-label", "title", "placeholder"];

// The static labels of the page: data-i18n="key" sets the text,
// data-i18n-aria-label / -title / -placeholder set those attributes;
// data-s="key" takes the text of STRINGS.key.
export function applyStatic(root = document) {
  document.documentElement.lang = current === "zh" ? "zh-Hans" : "en";
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-s]")) {
    const value = STRINGS[node.dataset.s];
    if (typeof value === "string") node.textContent = value;
  }
  for (const attribute of ATTRIBUTES) {
    for (const node of root.querySelectorAll(`[data-i18n-${attribute}]`)) {
      node.setAttribute(attribute, t(node.getAttribute(`data-i18n-${attribute}`)));
    }
  }
}
